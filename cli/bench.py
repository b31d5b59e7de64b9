"""`cli bench`: the same load in every mode at once, with latency and throughput side by side."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowHandle

from app.config import Settings
from app.gate_types import Mode
from app.payloads import Action, RunResult
from app.starter import start_staged_run
from cli.outcomes import wait_for_report
from cli.render import RunReport, seconds_between
from cli.run_options import RunOptions


@dataclass(frozen=True)
class ModeNumbers:
    """What one mode measured."""

    mode: str
    runs: int
    completed: int
    stages: int
    total_attempts: int
    wall_p50: float
    wall_p95: float
    resume_p50_ms: float
    resume_p95_ms: float
    stages_per_second: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(mode: Mode, reports: list[RunReport], elapsed: float) -> ModeNumbers:
    """Per-mode numbers: run wall time, and 'resume' = callback received -> workflow advanced."""
    walls = [r.wall_seconds for r in reports if r.wall_seconds is not None]
    resume = [
        d * 1000 for r in reports for s in r.stages if (d := seconds_between(s.callback_at, s.advanced_at)) is not None
    ]
    stages_done = sum(1 for r in reports for s in r.stages if s.outcome.value == "completed")
    return ModeNumbers(
        mode=mode.value,
        runs=len(reports),
        completed=sum(r.status == "completed" for r in reports),
        stages=stages_done,
        total_attempts=sum(s.attempts for r in reports for s in r.stages),
        wall_p50=statistics.median(walls) if walls else float("nan"),
        wall_p95=_pct(walls, 0.95),
        resume_p50_ms=statistics.median(resume) if resume else float("nan"),
        resume_p95_ms=_pct(resume, 0.95),
        stages_per_second=stages_done / elapsed if elapsed > 0 else float("nan"),
    )


async def run_bench(
    client: Client,
    settings: Settings,
    console: Console,
    *,
    runs: int,
    stages: int,
    ttr: float,
    ttc: float,
    as_json: bool,
) -> list[ModeNumbers]:
    """Start `runs` runs per mode interleaved, wait for all, print the numbers side by side."""
    base = RunOptions(
        mode=Mode.SIGNAL,
        stages=stages,
        actions=[Action.COMPLETE],
        time_to_request=ttr,
        time_to_callback=ttc,
        stage_timeout=120.0,
    )
    started = time.monotonic()
    handles: dict[Mode, list[WorkflowHandle[object, RunResult]]] = {mode: [] for mode in Mode}
    # Interleave the modes so both see the same machine load.
    for _ in range(runs):
        for mode in Mode:
            handles[mode].append(await start_staged_run(client, settings.task_queue, base.with_mode(mode).to_input()))
    results = {
        mode: await asyncio.gather(
            *(wait_for_report(client, h, ui_url=settings.temporal.ui_url, timeout=600) for h in hs)
        )
        for mode, hs in handles.items()
    }
    elapsed = time.monotonic() - started
    numbers = [summarize(mode, list(reports), elapsed) for mode, reports in results.items()]
    if as_json:
        print(json.dumps([n.__dict__ for n in numbers]))
        return numbers
    table = Table(title=f"bench: {runs} runs x {stages} stages per mode, ttr={ttr}s ttc={ttc}s, {elapsed:.1f}s total")
    table.add_column("")
    for n in numbers:
        table.add_column(n.mode, justify="right")
    sig, others = numbers[0], numbers[1:]
    for n in others:
        table.add_column(f"{n.mode} / signal", justify="right")
    rows = [
        ("completed runs", "completed", False),
        ("activity attempts", "total_attempts", True),
        ("run wall p50 (s)", "wall_p50", True),
        ("run wall p95 (s)", "wall_p95", True),
        ("resume p50 (ms)", "resume_p50_ms", True),
        ("resume p95 (ms)", "resume_p95_ms", True),
    ]
    for label, attr, ratio in rows:
        base = getattr(sig, attr)
        values = [getattr(n, attr) for n in numbers]
        ratios = [f"{getattr(n, attr) / base:.2f}x" if ratio and base else "" for n in others]
        table.add_row(label, *(_num(v) for v in values), *ratios)
    console.print(table)
    console.print("resume = callback received by the callback server -> workflow advanced past the stage")
    return numbers


def _num(value: float) -> str:
    return f"{value:.0f}" if isinstance(value, int) else f"{value:.3f}"
