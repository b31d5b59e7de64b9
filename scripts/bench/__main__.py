"""The benchmark on a stack of its own: P0 (SDK) against P1-P3 (HTTP callbacks), or with --scale N the scale run.

    uv run python -m scripts.bench --out DIR [--quick] [--sides ...] [--scale N] [--ab-shape replicate] ...
    just bench / just bench-scale / just bench-shape   (write into docs/bench)

Results JSON, markdown and PNG go under --out (no default: the recipes name docs/bench). Exit code 0 when every
run completed, 1 when some did not, 2 on a bad option (found before anything starts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from app.gate.types import Mode
from scripts.bench.compare import Outputs, run_compare
from scripts.bench.runner import BenchPlan
from scripts.bench.scale import ScalePlan, run_scale
from scripts.bench.shapes import FOREIGN_BODIES
from scripts.bench.sides import Side, parse_sides
from scripts.bench.stack import StackStartError

EXIT_INCOMPLETE = 1
EXIT_USAGE = 2


def parse_env(text: str, option: str) -> dict[str, str]:
    """`KEY=VALUE,KEY=VALUE` (empty: none) into a dict; anything else is a ValueError naming the option."""
    env: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} takes KEY=VALUE[,KEY=VALUE...], got {item!r}")
        env[key.strip()] = value.strip()
    return env


def _at_least(minimum: int) -> Callable[[str], int]:
    def check(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    check.__name__ = "int"  # argparse names the type in its error message
    return check


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """A bad option is one line on stderr and exit 2 (not argparse's usage block), before anything starts."""
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m scripts.bench", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON, markdown and PNG")
    parser.add_argument("--stages", "-n", type=_at_least(1), default=3, help="stages per run (default 3)")
    parser.add_argument("--runs", type=_at_least(1), default=5, help="concurrency 1: runs per side per round")
    parser.add_argument("--rounds", type=_at_least(1), default=7, help="rounds of each phase (sides take turns)")
    parser.add_argument("--concurrency", "-c", type=_at_least(2), default=50, help="saturation: runs at once")
    parser.add_argument(
        "--callback-delay", type=float, default=0.05, help="concurrency 1: seconds from request to callback"
    )
    parser.add_argument("--sides", default="all", help="all, or side keys: p0-signal,p1-signal,...")
    parser.add_argument("--quick", action="store_true", help="a tiny plan that only checks everything works")
    parser.add_argument("--scale", type=_at_least(0), default=0, help="instead: N runs waiting at once, then advanced")
    parser.add_argument("--scale-mode", choices=[m.value for m in Mode], default="signal", help="the scale run's mode")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the results JSON on stdout")
    parser.add_argument("--worker-cache", type=_at_least(0), help="the workers' WORKER_MAX_CACHED_WORKFLOWS")
    parser.add_argument(
        "--callback-env", default="", help="KEY=VALUE,... for the callback server (e.g. CALLBACK_HTTP=h11)"
    )
    parser.add_argument(
        "--ab-callback-env", help="A/B: a second callback server with KEY=VALUE,...; every HTTP side runs twice"
    )
    parser.add_argument(
        "--ab-shape",
        choices=sorted(FOREIGN_BODIES),
        help="A/B: every HTTP side beside a twin that sends this service's own body through a callback shape "
        "(writes shape-NAME.*)",
    )
    return parser


def run(args: argparse.Namespace, sides: list[Side], callback_env: dict[str, str], b_env: dict[str, str] | None) -> int:
    """The comparison (or, with --scale N, the scale run); 0 when every run completed."""
    console = Console(stderr=True) if args.as_json else Console()
    worker_env = {} if args.worker_cache is None else {"WORKER_MAX_CACHED_WORKFLOWS": str(args.worker_cache)}
    if args.scale:
        scale_plan = ScalePlan(runs=args.scale, mode=Mode(args.scale_mode), worker_env=worker_env)
        scale = asyncio.run(run_scale(scale_plan, Outputs.under(args.out, "scale"), console))
        if args.as_json:
            print(json.dumps(scale.to_json()))
        return 0 if scale.all_completed else EXIT_INCOMPLETE
    if args.quick:
        plan = BenchPlan(stages=2, c1_runs=1, c1_rounds=1, concurrency=4, sat_rounds=1, history_samples=1)
    else:
        plan = BenchPlan(
            stages=args.stages,
            c1_runs=args.runs,
            c1_rounds=args.rounds,
            concurrency=args.concurrency,
            sat_rounds=args.rounds,
            callback_delay=args.callback_delay,
        )
    foreign = None if args.ab_shape is None else FOREIGN_BODIES[args.ab_shape]
    results = asyncio.run(
        run_compare(
            plan,
            sides,
            Outputs.under(args.out, "results" if foreign is None else f"shape-{foreign.name}"),
            console,
            worker_env=worker_env,
            callback_env=callback_env,
            callback_b_env=b_env,
            foreign=foreign,
        )
    )
    if args.as_json:
        print(json.dumps(results.to_json()))
    incomplete = [s for s in results.summaries if s.completed != s.runs]
    for s in incomplete:
        print(f"error: {s.label} ({s.phase}): {s.completed} of {s.runs} runs completed", file=sys.stderr)
    return EXIT_INCOMPLETE if incomplete else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        sides = parse_sides(args.sides, with_b=args.ab_callback_env is not None, with_shape=args.ab_shape is not None)
        callback_env = parse_env(args.callback_env, "--callback-env")
        b_env = None if args.ab_callback_env is None else parse_env(args.ab_callback_env, "--ab-callback-env")
        if args.ab_shape is None and any(side.body == "foreign" for side in sides):
            raise ValueError("foreign-body sides (*-shape) need --ab-shape NAME")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)  # one line, before anything starts
        return EXIT_USAGE
    try:
        return run(args, sides, callback_env, b_env)
    except StackStartError as err:
        print(f"error: the benchmark's stack did not start: {err}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
