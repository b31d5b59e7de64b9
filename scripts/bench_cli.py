"""What one `cli` process costs, beside other clients doing the same work, in one run against one dev server.

    uv run python scripts/bench_cli.py [--seed-dir DIR] [--cli PATH] [--reps 5] [--burst 50] [--json FILE]

Needs the stack up (`just up` or `scripts/devstack.py up`; settings from the environment as everywhere). Each
client process is timed by us and its CPU read from `os.wait4` (user + sys of that process): no wrappers.

- `cli --help`, and `cli start` of one token-mode stage (0 s to answer, 0 s to call back) with `--no-wait`
  and with `--wait`, `--reps` times each, interleaved with the other clients doing the same;
- the baselines: `scripts/minimal_client.py` (temporalio alone starts the same run), and with `--seed-dir`, the
  seed demo's own client against its own worker and service (installed from its poetry.lock, see
  `scripts/seed_client.py`), which always waits for its run;
- every client gets the same environment (see `client_env`) and one warm-up run that is not counted;
- a burst: `--burst` processes of each client started at once; how many finish within `--burst-timeout`
  seconds, and their wall time p50/p95.

`--other-cli PATH` measures another build of the CLI beside it (e.g. a checkout of an older commit with its own
venv), in the same rounds against the same stack. Prints a table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.runtime.config import Settings, load_settings
from scripts import seed_client

ROOT = Path(__file__).resolve().parent.parent
MINIMAL_CLIENT = ROOT / "scripts" / "minimal_client.py"
SINGLE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ProcessRun:
    """One client process: how long it ran, the CPU it used, how it exited (None: killed at the timeout)."""

    wall_seconds: float
    cpu_seconds: float
    exit_code: int | None


@dataclass(frozen=True)
class Measure:
    """Repeated runs of one command."""

    name: str
    command: list[str]
    runs: list[ProcessRun] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        ok = [r for r in self.runs if r.exit_code == 0]
        walls = sorted(r.wall_seconds for r in ok)
        return {
            "count": len(self.runs),
            "ok": len(ok),
            "wall_median": statistics.median(walls) if walls else float("nan"),
            "cpu_median": statistics.median(r.cpu_seconds for r in ok) if ok else float("nan"),
            "wall_p50": _pct(walls, 0.50),
            "wall_p95": _pct(walls, 0.95),
        }


def _pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_process(command: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> ProcessRun:
    """Start one process, wait for it (killing it by pid at `timeout`), and read its own rusage."""
    killed = threading.Event()
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603  # our own measured clients
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )

    def kill() -> None:
        killed.set()
        os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)  # blocks without polling; the rusage is this process's own
    finally:
        timer.cancel()
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return ProcessRun(
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        exit_code=None if killed.is_set() else proc.returncode,
    )


def burst(command: list[str], *, count: int, env: dict[str, str], cwd: Path, timeout: float) -> list[ProcessRun]:
    """`count` copies of `command` started at once (one waiting thread each)."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run_process, command, env=env, cwd=cwd, timeout=timeout) for _ in range(count)]
        return [f.result() for f in futures]


def client_env(env: dict[str, str]) -> dict[str, str]:
    """The measured clients' environment: the caller's (their settings: TEMPORAL_ADDRESS, ...), minus
    PYTHONDONTWRITEBYTECODE, so every client caches its bytecode as Python does by default: with the variable
    set (this sandbox sets it), each process would compile every module it imports from source, every time.
    """
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    cli = str(args.cli)
    env = client_env(dict(os.environ))
    start_args = ["start", "-m", "token", "-n", "1", "-ttr", "0", "-ttc", "0", "--json"]
    minimal = [sys.executable, str(MINIMAL_CLIENT), "--address", settings.temporal.address]
    minimal += ["--namespace", settings.temporal.namespace, "--task-queue", settings.task_queue]
    singles = [
        Measure("cli --help", [cli, "--help"]),
        Measure("cli start --no-wait", [cli, *start_args, "--no-wait"]),
        Measure("minimal client, no wait", minimal),
        Measure("cli start --wait", [cli, *start_args]),
        Measure("minimal client, wait", [*minimal, "--wait"]),
    ]
    other = str(args.other_cli) if args.other_cli else None
    if other:
        singles += [
            Measure("other cli --help", [other, "--help"]),
            Measure("other cli start --no-wait", [other, *start_args, "--no-wait"]),
            Measure("other cli start --wait", [other, *start_args]),
        ]
    seed: seed_client.SeedStack | None = None
    try:
        if args.seed_dir is not None:
            python = seed_client.install(args.seed_dir.resolve(), args.seed_venv.resolve())
            seed = seed_client.start(
                python,
                args.seed_dir.resolve(),
                temporal_address=settings.temporal.address,
                worker_port=args.seed_worker_port,
                service_port=args.seed_service_port,
                log_dir=Path(tempfile.mkdtemp(prefix="bench-cli-seed-")),
            )
            singles.append(Measure("seed client (waits)", seed.client_command()))
        seed_env = client_env(os.environ | seed.env) if seed else env
        seed_cwd = seed.seed_dir if seed else ROOT

        def where(m: Measure) -> tuple[dict[str, str], Path]:
            return (seed_env, seed_cwd) if m.name.startswith("seed") else (env, ROOT)

        # Warm-up (page cache, .pyc files), not counted.
        for m in singles:
            run_process(m.command, env=where(m)[0], cwd=where(m)[1], timeout=SINGLE_TIMEOUT_SECONDS)
        for rep in range(args.reps):
            for m in singles:
                m.runs.append(run_process(m.command, env=where(m)[0], cwd=where(m)[1], timeout=SINGLE_TIMEOUT_SECONDS))
            print(f"round {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
        bursts = [Measure(f"{args.burst} x cli start --wait", [cli, *start_args])]
        if other:
            bursts.append(Measure(f"{args.burst} x other cli start --wait", [other, *start_args]))
        bursts.append(Measure(f"{args.burst} x minimal client, wait", [*minimal, "--wait"]))
        if seed is not None:
            bursts.append(Measure(f"{args.burst} x seed client", seed.client_command()))
        for m in bursts:
            m_env, m_cwd = (seed_env, seed_cwd) if "seed" in m.name else (env, ROOT)
            m.runs.extend(burst(m.command, count=args.burst, env=m_env, cwd=m_cwd, timeout=args.burst_timeout))
            print(f"{m.name}: done", file=sys.stderr, flush=True)
    finally:
        if seed is not None:
            seed.stop()
    return {
        "cli": cli,
        "other_cli": other,
        "temporal_address": settings.temporal.address,
        "reps": args.reps,
        "burst": args.burst,
        "burst_timeout_seconds": args.burst_timeout,
        "cpus": os.cpu_count(),
        "singles": [{"name": m.name, **m.summary(), "runs": [asdict(r) for r in m.runs]} for m in singles],
        "bursts": [{"name": m.name, **m.summary(), "runs": [asdict(r) for r in m.runs]} for m in bursts],
    }


def table(results: dict[str, object]) -> str:
    """Markdown tables: single runs (medians), then the bursts."""
    lines = [
        f"cli: `{results['cli']}`; other cli: `{results['other_cli']}`; {results['reps']} runs each (medians), "
        f"{results['cpus']} CPUs",
        "",
        "| client | ok | wall s | CPU s |",
        "|---|---:|---:|---:|",
    ]
    for row in results["singles"]:  # type: ignore[attr-defined]
        wall, cpu = row["wall_median"], row["cpu_median"]
        lines.append(f"| {row['name']} | {row['ok']}/{row['count']} | {wall:.2f} | {cpu:.2f} |")
    lines += [
        "",
        f"| burst ({results['burst_timeout_seconds']:g} s timeout) | finished | wall p50 s | wall p95 s | CPU s med |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results["bursts"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {row['name']} | {row['ok']}/{row['count']} | {row['wall_p50']:.2f} | {row['wall_p95']:.2f} "
            f"| {row['cpu_median']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cli", type=Path, default=Path(sys.executable).parent / "cli", help="the cli to measure")
    parser.add_argument("--other-cli", type=Path, default=None, help="another cli build to measure beside it")
    parser.add_argument("--seed-dir", type=Path, default=None, help="a checkout of the seed demo (optional)")
    parser.add_argument("--seed-venv", type=Path, default=ROOT / ".bench" / "seed-venv", help="its venv")
    parser.add_argument("--seed-worker-port", type=int, default=24101, help="the seed worker's callback port")
    parser.add_argument("--seed-service-port", type=int, default=24102, help="the seed's HTTP service port")
    parser.add_argument("--reps", type=int, default=5, help="runs of each single measurement")
    parser.add_argument("--burst", type=int, default=50, help="processes started at once per client")
    parser.add_argument("--burst-timeout", type=float, default=60.0, help="seconds a burst process may take")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "bench_cli.json", help="results file")
    args = parser.parse_args(argv)
    results = measure(args, load_settings())
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
