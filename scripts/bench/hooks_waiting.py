"""N fixed-endpoint stages waiting at once, then all their events sent to `/hooks/bench`; mailboxes counted after.

    uv run python -m scripts.bench.hooks_waiting [--runs 10000] [--mode signal] [--concurrency 50]

The scale run of the fixed endpoint (issue 20): the one-stage `wait: {source: bench, ...}` pipeline of
`scripts/bench/hooks.py`, against its stub service holding every outcome back. Once every run's request has been
answered and every key's mailbox is open (N stages registered and waiting), the bench sends all N events, signed,
`--concurrency` at a time, each again on a 5xx. Printed: how long the starts took; the time to deliver every
event (the last 2xx); the time until the last stage advanced (its record's `advanced_at`), and their ratio (the
scale goal: at most 1.2); runs lost; each POST's answer time p50/p99; the open mailboxes right after and once
their settle time has passed (they must all end). Visibility counts are used only to know when all wait and to
count mailboxes, never for correctness. Starts its own stack and stops every process it started, by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from app.gate.types import Mode
from app.pipeline.file import parse_pipeline
from app.pipeline.types import PipelineResult, PipelineRunInput
from app.starter import start_pipeline_run
from scripts.bench.hooks import FIXED, Stub, bench_stack, open_mailboxes, report_open_mailboxes
from scripts.bench.stack import STUB_TASK_QUEUE

WAIT_ALL_TIMEOUT = 3600.0  # a ceiling, not a goal: 10,000 starts take minutes on 2 shared cores


@dataclass(frozen=True)
class WaitingResult:
    """One waiting-at-once run, as printed and written."""

    runs: int
    mode: str
    starts_seconds: float
    all_waiting_seconds: float
    delivery_seconds: float
    all_advanced_seconds: float
    advanced_over_delivery: float
    advanced: int
    lost: int
    answer_p50_ms: float
    answer_p99_ms: float
    non_2xx: int
    open_mailboxes_right_after: int = -1
    open_mailboxes_later: int = -1


async def _wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll an async predicate every second until it holds (TimeoutError naming `what` otherwise)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not {what} within {timeout:g}s")
        await asyncio.sleep(1.0)


async def run_waiting(runs: int, mode: Mode, concurrency: int) -> WaitingResult:
    stub = Stub(hold=True)
    pipeline = parse_pipeline(FIXED)
    async with bench_stack(stub) as client:
        gate = asyncio.Semaphore(concurrency)
        prefix = f"bench-hooks-waiting-{uuid.uuid4().hex[:6]}"

        async def start(number: int) -> WorkflowHandle[object, PipelineResult]:
            async with gate:
                return await start_pipeline_run(
                    client, STUB_TASK_QUEUE, PipelineRunInput(pipeline, {}, mode), workflow_id=f"{prefix}-{number}"
                )

        t0 = time.perf_counter()
        handles = await asyncio.gather(*(start(n) for n in range(runs)))
        starts = time.perf_counter() - t0
        print(f"{runs} runs started in {starts:.1f}s", flush=True)

        async def all_registered() -> bool:
            return len(stub.held) >= runs and await open_mailboxes(client) >= runs

        await _wait_for(all_registered, WAIT_ALL_TIMEOUT, f"all {runs} stages registered with their mailboxes")
        all_waiting = time.perf_counter() - t0
        print(f"all {runs} waiting (requests answered, mailboxes open) after {all_waiting:.1f}s", flush=True)

        fired_at = time.time()
        t_fire = time.perf_counter()

        async def fire(job_id: str, ask: dict[str, Any]) -> None:
            async with gate:
                await stub.send_outcome(job_id, ask)

        await asyncio.gather(*(fire(job_id, ask) for job_id, ask in stub.held))
        delivery = time.perf_counter() - t_fire
        print(f"all {runs} events delivered in {delivery:.1f}s", flush=True)

        async def result(handle: WorkflowHandle[object, PipelineResult]) -> PipelineResult | None:
            try:
                return await asyncio.wait_for(handle.result(), max(1.0, WAIT_ALL_TIMEOUT - (time.perf_counter() - t0)))
            except Exception:  # noqa: BLE001  # a run that failed or never ended is counted as lost
                return None

        results = await asyncio.gather(*(result(h) for h in handles))
        advanced_at = [
            datetime.fromisoformat(r.stages[0].advanced_at).timestamp()
            for r in results
            if r is not None and r.stages and r.stages[0].advanced_at
        ]
        last = max(advanced_at) - fired_at if advanced_at else float("nan")
        answers = sorted(stub.answer_seconds)

        def quantile(q: float) -> float:
            return answers[min(len(answers) - 1, int(len(answers) * q))] * 1000 if answers else float("nan")

        outcome = WaitingResult(
            runs=runs,
            mode=mode.value,
            starts_seconds=round(starts, 1),
            all_waiting_seconds=round(all_waiting, 1),
            delivery_seconds=round(delivery, 1),
            all_advanced_seconds=round(last, 1),
            advanced_over_delivery=round(last / delivery, 3) if delivery > 0 else float("nan"),
            advanced=len(advanced_at),
            lost=runs - len(advanced_at),
            answer_p50_ms=round(quantile(0.5), 1),
            answer_p99_ms=round(quantile(0.99), 1),
            non_2xx=sum(1 for s in stub.statuses if not 200 <= s < 300),
        )
        print(json.dumps(asdict(outcome)), flush=True)
        right_after, later = await report_open_mailboxes(client)
    return replace(outcome, open_mailboxes_right_after=right_after, open_mailboxes_later=later)


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.bench.hooks_waiting`."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.hooks_waiting", description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000, help="runs waiting at once")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.SIGNAL.value)
    parser.add_argument("--concurrency", type=int, default=50, help="starts and sends in flight at once")
    parser.add_argument("--out", type=Path, default=None, help="write hooks-waiting-<mode>-<N>.json here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.concurrency < 1:
        parser.error("--runs and --concurrency must be positive")
    outcome = asyncio.run(run_waiting(args.runs, Mode(args.mode), args.concurrency))
    print(json.dumps(asdict(outcome), indent=2))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"hooks-waiting-{outcome.mode}-{outcome.runs}.json").write_text(
            json.dumps(asdict(outcome), indent=2) + "\n"
        )
    return 0 if outcome.lost == 0 and outcome.open_mailboxes_later == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
