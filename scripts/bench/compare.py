"""`python -m scripts.bench`: P0 (SDK) against P1-P3 (HTTP) and the service mock end to end, on a stack of its own.

Starts the dev server, the workers, the callback server and the service mock as subprocesses on free ports,
serves the stub service on its own loop, runs both phases, and writes results JSON, a markdown table and a
PNG of the latency distributions. Everything it started is stopped by pid at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client

from scripts.bench.firing import FireLog, Firer
from scripts.bench.plot import plot_latencies
from scripts.bench.report import markdown_report, print_summary
from scripts.bench.results import (
    PHASE_C1,
    PHASE_SATURATION,
    BenchResults,
    ratios_and_goals,
    shape_ratios_and_goals,
    summarize,
)
from scripts.bench.runner import BenchContext, BenchPlan, history_costs, run_phase
from scripts.bench.sampler import Sampler
from scripts.bench.shapes import ForeignBody
from scripts.bench.sides import Side, Via, side_of_workflow
from scripts.bench.stack import StackOptions, start_bench_stack
from scripts.bench.stub_service import StageAsk, StubServer, StubService
from scripts.stack.dev_server import connect
from scripts.stack.processes import free_port


@dataclass(frozen=True)
class Outputs:
    """Where a run writes what it measured."""

    json: Path
    markdown: Path
    plot: Path

    @staticmethod
    def under(folder: Path, stem: str) -> Outputs:
        return Outputs(folder / f"{stem}.json", folder / f"{stem}.md", folder / f"{stem}.png")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, now."""
    return [round(x, 2) for x in os.getloadavg()]


def machine(load_at_start: Sequence[float]) -> dict[str, object]:
    """What the numbers were measured on, written when the run ends.

    The start's load is read by the caller before it starts the stack and handed in: the load at the end of a
    run is another figure (on a shared machine it can be several times the start's), recorded beside it.
    """
    return {
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(load_at_start),
        "load_average_at_end": load_average(),
    }


async def run_compare(
    plan: BenchPlan,
    sides: Sequence[Side],
    outputs: Outputs,
    console: Console,
    *,
    worker_env: Mapping[str, str] | None = None,
    callback_env: Mapping[str, str] | None = None,
    callback_b_env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    temporal_address: str | None = None,
    sample_pids: Mapping[str, int] | None = None,
    sample_trees: frozenset[str] = frozenset(),
    foreign: ForeignBody | None = None,
) -> BenchResults:
    """The whole benchmark; returns what it wrote.

    With `temporal_address` it runs against that Temporal (e.g. `just cluster-up`'s) instead of a dev server of its
    own, and samples `sample_pids` (its processes; `sample_trees` with their children) beside the stack's.
    """
    began, load_at_start = time.monotonic(), load_average()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="stagegate-bench-"))
    firer: Firer | None = None

    async def on_ask(ask: StageAsk) -> None:
        side = side_of_workflow(ask.workflow_id)
        if side is not None and firer is not None:
            await firer.fire(side, ask)

    stub = StubService(on_ask)
    async with StubServer(stub, free_port()) as server:
        console.print(f"starting the stack (logs in {log_dir})")
        stack = await start_bench_stack(
            log_dir,
            StackOptions(
                stub_service_url=server.url,
                worker_env=dict(worker_env or {}),
                callback_env=dict(callback_env or {}),
                callback_b_env=None if callback_b_env is None else dict(callback_b_env),
                with_e2e=any(s.via is Via.SERVICE_MOCK for s in sides),
                temporal_address=temporal_address,
            ),
        )
        try:
            client = await connect(stack.temporal_address)
            limits = httpx.Limits(
                max_connections=plan.concurrency + 10, max_keepalive_connections=plan.concurrency + 10
            )
            async with httpx.AsyncClient(trust_env=False, timeout=30.0, limits=limits) as http:
                firer = Firer(
                    client,
                    http,
                    FireLog(),
                    server_b=stack.callback_b_url,
                    foreign=foreign,
                    signing_secret=stack.signing_secret,
                )
                pids = {**(sample_pids or {}), **stack.pids()}
                sampler = Sampler(pids, trees=sample_trees)
                results = await _measure(client, firer, sampler, plan, sides, console)
                await stub.drain()
        finally:
            stack.stop()
    results.meta.update(
        machine=machine(load_at_start),
        plan=asdict(plan),
        sides=[s.key for s in sides],
        worker_env=dict(worker_env or {}),
        callback_env=dict(callback_env or {}),
        callback_b_env=None if callback_b_env is None else dict(callback_b_env),
        foreign_body=None if foreign is None else foreign.name,
        command=" ".join(["python -m scripts.bench", *sys.argv[1:]]),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - began, 1),
        log_dir=str(log_dir),
        pids={**(sample_pids or {}), **stack.pids()},
        temporal_address=stack.temporal_address,
    )
    write_outputs(results, outputs)
    print_summary(results, console)
    return results


async def _measure(
    client: Client, firer: Firer, sampler: Sampler, plan: BenchPlan, sides: Sequence[Side], console: Console
) -> BenchResults:
    results = BenchResults(meta={"started_at": datetime.now(UTC).isoformat(timespec="seconds")})
    total = len(sides) * (plan.c1_rounds * plan.c1_runs + plan.sat_rounds * plan.concurrency)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    async with sampler:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("runs", total=total)

            def progress(description: str, done: int) -> None:
                if description:
                    bar.update(task, description=description)
                bar.advance(task, done)

            ctx = BenchContext(client, firer, sampler, plan, progress)
            batches = {PHASE_C1: await run_phase(ctx, PHASE_C1, sides)}
            batches[PHASE_SATURATION] = await run_phase(ctx, PHASE_SATURATION, sides)
    for phase, phase_batches in batches.items():
        results.latencies_ms[phase] = {}
        for side in sides:
            mine = [b for b in phase_batches if b.side == side.key]
            results.summaries.append(summarize(side.key, phase, mine))
            results.latencies_ms[phase][side.key] = [round(v, 2) for b in mine for v in b.latencies_ms]
    for side in sides:
        done = [b for b in batches[PHASE_SATURATION] if b.side == side.key]
        sample = [wid for b in done for wid in b.workflow_ids][: plan.history_samples]
        results.history.append(await history_costs(client, side.key, sample, plan.stages))
    results.answers = dict(sorted(firer.log.answers.items()))
    ratios_and_goals(results)
    shape_ratios_and_goals(results)
    return results


def write_outputs(results: BenchResults, outputs: Outputs) -> None:
    """Results JSON, the markdown tables, the latency plot."""
    outputs.json.parent.mkdir(parents=True, exist_ok=True)
    outputs.json.write_text(json.dumps(results.to_json(), indent=1) + "\n")
    outputs.markdown.write_text(markdown_report(results))
    plot_latencies(results, outputs.plot)
