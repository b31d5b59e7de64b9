"""`cli bench`: hands the options to the benchmark in scripts/bench (a source checkout with the dev dependencies).

Imported lazily by the command, so `cli --help` never pays for psutil, matplotlib or the benchmark itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from app.gate.types import Mode
    from scripts.bench.sides import Side

DEFAULT_OUT = Path("docs/bench")


class BenchUnavailableError(RuntimeError):
    """The benchmark's modules or dev dependencies are not installed here."""


class BenchOptionError(ValueError):
    """An option value the benchmark cannot use (found before anything starts)."""


@dataclass(frozen=True)
class BenchOptions:
    """The command line of `cli bench`, checked."""

    stages: int
    runs: int
    rounds: int
    concurrency: int
    callback_delay: float
    sides: str
    out: Path
    quick: bool
    scale: int
    scale_mode: str
    as_json: bool
    worker_cache: int | None = None
    callback_env: str = ""
    ab_callback_env: str | None = None

    def worker_env(self) -> dict[str, str]:
        """Worker settings this run overrides (the tuning knobs under test)."""
        return {} if self.worker_cache is None else {"WORKER_MAX_CACHED_WORKFLOWS": str(self.worker_cache)}


def run_bench_command(options: BenchOptions) -> int:
    """Run the comparison (or, with --scale N, the scale run); the exit code is 0 when every run completed."""
    try:
        from app.gate.types import Mode
        from scripts.bench.compare import run_compare  # noqa: F401  # fail here, before anything starts
        from scripts.bench.sides import parse_sides
        from scripts.bench.stack import StackStartError
    except ImportError as err:  # the container image ships neither scripts/ nor the dev dependencies
        raise BenchUnavailableError(
            f"cli bench runs from a source checkout with the dev dependencies (`uv sync`): {err}"
        ) from err
    try:
        sides = parse_sides(options.sides, with_b=options.ab_callback_env is not None)
        callback_env = parse_env(options.callback_env, "--callback-env")
        callback_b_env = (
            None if options.ab_callback_env is None else parse_env(options.ab_callback_env, "--ab-callback-env")
        )
    except ValueError as err:
        raise BenchOptionError(str(err)) from err
    if options.scale_mode not in {m.value for m in Mode}:
        raise BenchOptionError(f"--scale-mode must be one of {' | '.join(m.value for m in Mode)}")
    scale_mode = Mode(options.scale_mode)
    console = Console(stderr=True) if options.as_json else Console()
    try:
        return _run(options, sides, scale_mode, console, callback_env, callback_b_env)
    except StackStartError as err:
        raise BenchUnavailableError(f"the benchmark's stack did not start: {err}") from err


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


def _run(
    options: BenchOptions,
    sides: list[Side],
    scale_mode: Mode,
    console: Console,
    callback_env: dict[str, str],
    callback_b_env: dict[str, str] | None,
) -> int:
    from scripts.bench.compare import Outputs, run_compare
    from scripts.bench.runner import BenchPlan
    from scripts.bench.scale import ScalePlan, run_scale

    if options.scale:
        scale_plan = ScalePlan(runs=options.scale, mode=scale_mode, worker_env=options.worker_env())
        scale = asyncio.run(run_scale(scale_plan, Outputs.under(options.out, "scale"), console))
        if options.as_json:
            print(json.dumps(scale.to_json()))
        return 0 if scale.all_completed else 1
    if options.quick:
        plan = BenchPlan(stages=2, c1_runs=1, c1_rounds=1, concurrency=4, sat_rounds=1, history_samples=1)
    else:
        plan = BenchPlan(
            stages=options.stages,
            c1_runs=options.runs,
            c1_rounds=options.rounds,
            concurrency=options.concurrency,
            sat_rounds=options.rounds,
            callback_delay=options.callback_delay,
        )
    results = asyncio.run(
        run_compare(
            plan,
            sides,
            Outputs.under(options.out, "results"),
            console,
            worker_env=options.worker_env(),
            callback_env=callback_env,
            callback_b_env=callback_b_env,
        )
    )
    if options.as_json:
        print(json.dumps(results.to_json()))
    incomplete = [s for s in results.summaries if s.completed != s.runs]
    for s in incomplete:
        print(f"error: {s.label} ({s.phase}): {s.completed} of {s.runs} runs completed", file=sys.stderr)
    return 1 if incomplete else 0
