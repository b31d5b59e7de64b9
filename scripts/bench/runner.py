"""One benchmark run: every side, round after round, at concurrency 1 and at saturation, on one stack.

Sides take turns (the order rotates every round), so each sees the same machine and the same noise from
whatever else runs on it; each turn is one measured window (wall time, CPU of every process, peak memory).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from temporalio.client import Client, WorkflowHandle

from app.demo.payloads import RunResult, StagedRunInput
from app.starter import start_staged_run
from scripts.bench.firing import FireLog, Firer
from scripts.bench.results import PHASE_C1, Batch, HistoryCost
from scripts.bench.sampler import Sampler, cpu_delta
from scripts.bench.sides import Side, Via
from scripts.bench.stack import E2E_TASK_QUEUE, STUB_TASK_QUEUE
from scripts.stack.runs import RunEnd, wait_end

T = TypeVar("T")
START_CONCURRENCY = 50  # starts in flight at once; a burst of thousands would only queue in the client


@dataclass(frozen=True)
class BenchPlan:
    """How much of what: the same stages and concurrency for every side."""

    stages: int = 3
    c1_runs: int = 5  # runs one after the other, per side per round
    c1_rounds: int = 4
    concurrency: int = 50  # runs at once, per side per round, at saturation
    sat_rounds: int = 5
    callback_delay: float = 0.05  # concurrency 1: the gate is surely waiting when the callback comes
    stage_timeout: float = 300.0
    history_samples: int = 5
    run_timeout: float = 600.0


Progress = Callable[[str, int], None]  # (description, runs finished since the last call)


@dataclass
class BenchContext:
    """What every batch uses."""

    client: Client
    firer: Firer
    sampler: Sampler
    plan: BenchPlan
    progress: Progress


def rotated(items: Sequence[T], turn: int) -> list[T]:
    """This round's order: every item goes first once every len(items) rounds."""
    k = turn % len(items) if items else 0
    return [*items[k:], *items[:k]]


def mode_groups(sides: Sequence[Side]) -> list[list[Side]]:
    """The sides of each mode together: a side and its P0 always run next to each other in time."""
    groups: dict[str, list[Side]] = {}
    for side in sides:
        groups.setdefault(side.mode.value, []).append(side)
    return list(groups.values())


async def run_phase(ctx: BenchContext, phase: str, sides: Sequence[Side]) -> list[Batch]:
    """All rounds of one phase, a mode's sides back to back (at concurrency 1 even run by run).

    On a shared machine the load of other work changes within seconds: pairs that run next to each other
    see the same machine, pairs minutes apart do not. Orders rotate every round so nobody always goes first.
    """
    c1 = phase == PHASE_C1
    rounds = ctx.plan.c1_rounds if c1 else ctx.plan.sat_rounds
    ctx.firer.delay = ctx.plan.callback_delay if c1 else 0.0
    batches: list[Batch] = []
    for rnd in range(rounds):
        for group in rotated(mode_groups(sides), rnd):
            order = rotated(group, rnd)
            if not c1:
                for side in order:
                    ctx.progress(f"{phase} round {rnd + 1}/{rounds}: {side.label}", 0)
                    batches.append(await run_batch(ctx, side, phase, rnd, ctx.plan.concurrency))
                continue
            ctx.progress(f"{phase} round {rnd + 1}/{rounds}: {', '.join(s.label for s in order)}", 0)
            runs: dict[str, list[Batch]] = {side.key: [] for side in order}
            for _ in range(ctx.plan.c1_runs):
                for side in order:
                    runs[side.key].append(await run_batch(ctx, side, phase, rnd, 1))
            batches.extend(merge(parts) for parts in runs.values())
    return batches


def merge(parts: Sequence[Batch]) -> Batch:
    """One side's windows of one round as one batch: times, CPU and samples added up, peaks kept."""
    first = parts[0]
    cpu: dict[str, float] = {}
    peak: dict[str, int] = {}
    for b in parts:
        for name, seconds in b.cpu_s.items():
            cpu[name] = cpu.get(name, 0.0) + seconds
        for name, rss in b.peak_rss.items():
            peak[name] = max(peak.get(name, 0), rss)
    return Batch(
        side=first.side,
        phase=first.phase,
        round=first.round,
        runs=sum(b.runs for b in parts),
        completed=sum(b.completed for b in parts),
        advances=sum(b.advances for b in parts),
        elapsed_s=sum(b.elapsed_s for b in parts),
        cpu_s=cpu,
        peak_rss=peak,
        latencies_ms=[v for b in parts for v in b.latencies_ms],
        hop_ms=[v for b in parts for v in b.hop_ms],
        workflow_ids=[w for b in parts for w in b.workflow_ids],
    )


async def run_batch(ctx: BenchContext, side: Side, phase: str, rnd: int, runs: int) -> Batch:
    """One side's turn: start `runs` runs (one after the other at concurrency 1), wait for all, measure."""
    plan = ctx.plan
    c1 = phase == PHASE_C1
    tag = uuid.uuid4().hex[:6]
    ids = [f"bench-{side.key}-{phase}-{rnd}-{i}-{tag}" for i in range(runs)]  # the tag keeps IDs apart
    e2e = side.via is Via.SERVICE_MOCK
    inp = StagedRunInput(
        mode=side.mode,
        stages=plan.stages,
        time_to_request=0.0,
        # End to end, the service mock waits this long before calling back (the bench's own delay elsewhere).
        time_to_callback=ctx.firer.delay if e2e else 0.0,
        stage_timeout_seconds=plan.stage_timeout,
    )
    queue = E2E_TASK_QUEUE if e2e else STUB_TASK_QUEUE
    before = ctx.sampler.take()
    began = time.monotonic()
    if c1:
        ends = []
        for wid in ids:
            handle = await start_staged_run(ctx.client, queue, inp, workflow_id=wid)
            ends.append(await _end(handle, plan.run_timeout))
            ctx.progress("", 1)
    else:
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def one(wid: str) -> RunEnd | None:
            async with gate:
                handle = await start_staged_run(ctx.client, queue, inp, workflow_id=wid)
            end = await _end(handle, plan.run_timeout)
            ctx.progress("", 1)
            return end

        ends = list(await asyncio.gather(*(one(wid) for wid in ids)))
    elapsed = time.monotonic() - began
    after = ctx.sampler.take()
    latencies, hops = _latencies(ctx.firer.log, ids, ends, side)
    results = [e.result for e in ends if e is not None and e.result is not None]
    return Batch(
        side=side.key,
        phase=phase,
        round=rnd,
        runs=runs,
        completed=len(results),
        advances=sum(1 for r in results for s in r.stages if s.ok),
        elapsed_s=elapsed,
        cpu_s=cpu_delta(before, after),
        peak_rss=ctx.sampler.peak_rss(began - 1.0, time.monotonic()),
        latencies_ms=latencies,
        hop_ms=hops,
        workflow_ids=ids,
    )


async def _end(handle: WorkflowHandle[object, RunResult], timeout: float) -> RunEnd | None:
    try:
        return await wait_end(handle, timeout=timeout)
    except TimeoutError:
        return None


def _ts(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _latencies(
    log: FireLog, ids: Sequence[str], ends: Sequence[RunEnd | None], side: Side
) -> tuple[list[float], list[float]]:
    """Per completed stage: callback -> advanced (ms); HTTP sides also callback sent -> callback server received."""
    latencies: list[float] = []
    hops: list[float] = []
    for wid, end in zip(ids, ends, strict=True):
        if end is None or end.result is None:
            continue
        for record in end.result.stages:
            advanced = _ts(record.advanced_at)
            received = _ts(record.callback_at)
            if not record.ok or advanced is None:
                continue
            if side.via is Via.SERVICE_MOCK:
                # The service mock's send moment is not known here: from the callback server's receipt.
                if received is not None:
                    latencies.append(1000 * (advanced - received))
                continue
            sent_at = log.sent_at.get((wid, int(record.stage)))
            if sent_at is None:
                continue
            latencies.append(1000 * (advanced - sent_at))
            if side.via is Via.HTTP and received is not None:
                hops.append(1000 * (received - sent_at))
    return latencies, hops


async def history_costs(client: Client, side: str, workflow_ids: Sequence[str], stages: int) -> HistoryCost:
    """Events and bytes per stage from the histories of a few completed runs."""
    events = 0
    size = 0
    for wid in workflow_ids:
        history = await asyncio.wait_for(client.get_workflow_handle(wid).fetch_history(), 60)
        events += len(history.events)
        size += sum(event.ByteSize() for event in history.events)
    n = max(len(workflow_ids), 1)
    return HistoryCost(side, len(workflow_ids), events / n / stages, size / n / stages)
