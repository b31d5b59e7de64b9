"""Fixed-endpoint delivery vs per-request URL delivery, side by side in one run, on one stack.

    uv run python -m scripts.bench.hooks [--runs 200] [--concurrency 1,50] [--mode signal|token|update]
        [--sides per-request,fixed-endpoint] [--out docs/bench]

Both sides run the same one-stage pipeline (PipelineWorkflow, `--mode`, default signal) against a stub service
that answers at once with a job ID; the bench then sends the stage's outcome:
- `per-request`: POST `{"status": "completed"}` to the stage's own signed callback URL (`/callbacks/signal`);
- `fixed-endpoint`: POST an HMAC-signed event `{"id", "job": {"id": <job ID>}}` to `/hooks/bench`, which the
  key's mailbox workflow hands to the waiting stage (`wait: {source: bench, key: "${answer.id}"}`).
Measured per side and concurrency: advances per second (runs whose stage advanced / the firing phase's wall
time) and send -> advanced latency (the bench's send time to the stage record's `advanced_at`, both on this
machine's clock), p50 and p99, and each POST's own answer time as the sender sees it (p50, p99: vendors such as
Stripe, GitHub and Slack give up after a few seconds). At the end: how many mailboxes are still open (they
settle 60 s after their final event, so right after a run they all are; the count is printed again later).
Starts its own dev server and stack (scripts/bench/stack.py) and stops every process it started, by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from app.gate.hook_types import DEFAULT_SETTLE_SECONDS, MAILBOX_WORKFLOW_NAME
from app.gate.types import Mode
from app.pipeline.file import parse_pipeline
from app.pipeline.types import PipelineResult, PipelineRunInput
from app.starter import start_pipeline_run
from scripts.bench.stack import STUB_TASK_QUEUE, StackOptions, start_bench_stack
from scripts.stack.asgi_server import serving

HOOK_SECRET = "bench-hook-secret"  # noqa: S105  # a loopback benchmark's own key
HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "bench:hmac",
    "STAGEGATE_HOOK_BENCH_SECRET": HOOK_SECRET,
    "STAGEGATE_HOOK_BENCH_KEY_PATH": "job.id",
    "STAGEGATE_HOOK_BENCH_EVENT_ID_PATH": "id",
    "STAGEGATE_HOOK_BENCH_OPT_HEADER": "X-Bench-Signature",
    # The callback server starts mailboxes where the bench's worker polls.
    "STAGEGATE_TASK_QUEUE": STUB_TASK_QUEUE,
}
SIDES = ("per-request", "fixed-endpoint")
PER_REQUEST = """
version: 1
name: bench-per-request
stages:
  - name: job
    timeout: 5m
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", key: "${idempotency_key}"}
"""
FIXED = """
version: 1
name: bench-fixed-endpoint
stages:
  - name: job
    timeout: 5m
    request:
      url: "${env.SERVICE_URL}/request"
      body: {key: "${idempotency_key}"}
    wait: {source: bench, key: "${answer.id}"}
"""
RUN_TIMEOUT = 120.0


@dataclass
class Stub:
    """The stub service: answers `POST /request` with `{"id": <job ID>}`, then lets the bench fire the outcome."""

    side: str = ""
    http: httpx.AsyncClient | None = None
    callback_base: str = ""
    sent_at: dict[str, float] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    # Each POST's own time until its answer, as the vendor's sender sees it (its timeout is a few seconds).
    answer_seconds: list[float] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Hold the outcomes instead of sending them (the waiting-at-once run fires them all later).
    hold: bool = False
    held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/healthz":
            await _answer(send, {"status": "ok"})
            return
        try:
            ask = json.loads(body)
        except ValueError:  # a request the worker gave up on mid-body (its attempt timed out): it retries
            await _answer(send, {"error": "invalid_json"}, status=400)
            return
        job_id = f"job-{uuid.uuid4().hex[:16]}"
        await _answer(send, {"id": job_id})
        if self.hold:
            self.held.append((job_id, ask))
            return
        task = asyncio.create_task(self._fire(job_id, ask))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _fire(self, job_id: str, ask: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)  # the answer reaches the worker first, as with a real service
        await self.send_outcome(job_id, ask)

    async def send_outcome(self, job_id: str, ask: dict[str, Any]) -> None:
        """POST the stage's outcome (its own URL or the fixed endpoint), again on a 5xx, at most 8 times."""
        assert self.http is not None
        if "callback_url" in ask:
            url, content, headers = ask["callback_url"], b'{"status": "completed"}', {}
        else:
            content = json.dumps({"id": f"evt-{job_id}", "status": "completed", "job": {"id": job_id}}).encode()
            signature = hmac.new(HOOK_SECRET.encode(), content, hashlib.sha256).hexdigest()
            url, headers = f"{self.callback_base}/hooks/bench", {"x-bench-signature": signature}
        self.sent_at[ask["key"]] = time.time()
        for _ in range(8):
            posted = time.perf_counter()
            answer = await self.http.post(url, content=content, headers={"content-type": "application/json", **headers})
            self.answer_seconds.append(time.perf_counter() - posted)
            self.statuses.append(answer.status_code)
            if answer.status_code < 500:
                return
            await asyncio.sleep(0.2)


async def _answer(send: Any, body: dict[str, Any], status: int = 200) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})


@dataclass(frozen=True)
class Row:
    """One side at one concurrency."""

    side: str
    concurrency: int
    runs: int
    advanced: int
    advances_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    answer_p50_ms: float = float("nan")
    answer_p99_ms: float = float("nan")


async def _side(client: Client, stub: Stub, side: str, concurrency: int, runs: int, mode: Mode = Mode.SIGNAL) -> Row:
    pipeline = parse_pipeline(FIXED if side == "fixed-endpoint" else PER_REQUEST)
    stub.sent_at.clear()
    stub.statuses.clear()
    stub.answer_seconds.clear()
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(number: int) -> None:
        async with gate:
            handle = await start_pipeline_run(
                client,
                STUB_TASK_QUEUE,
                PipelineRunInput(pipeline, {}, mode),
                workflow_id=f"bench-hooks-{side}-{concurrency}-{number}-{uuid.uuid4().hex[:6]}",
            )
            result: PipelineResult = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
            record = result.stages[0]
            key = f"{handle.id}/{handle.first_execution_run_id}/job"
            if record.advanced_at and key in stub.sent_at:
                latencies.append(datetime.fromisoformat(record.advanced_at).timestamp() - stub.sent_at[key])

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(runs)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return Row(
        side=side,
        concurrency=concurrency,
        runs=runs,
        advanced=len(latencies),
        advances_per_second=len(latencies) / wall,
        p50_ms=statistics.median(ordered) * 1000 if ordered else float("nan"),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else float("nan"),
        non_2xx=sum(1 for s in stub.statuses if not 200 <= s < 300),
        answer_p50_ms=_quantile(stub.answer_seconds, 0.5) * 1000,
        answer_p99_ms=_quantile(stub.answer_seconds, 0.99) * 1000,
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def open_mailboxes(client: Client) -> int:
    count = await client.count_workflows(f"WorkflowType = '{MAILBOX_WORKFLOW_NAME}' AND ExecutionStatus = 'Running'")
    return count.count


@asynccontextmanager
async def bench_stack(stub: Stub) -> AsyncIterator[Client]:
    """The stub service and a stack of its own (dev server, worker, callback server with `/hooks/bench`)."""
    async with serving(stub) as stub_url:
        with tempfile.TemporaryDirectory(prefix="stagegate-bench-hooks-") as log_dir:
            stack = await start_bench_stack(
                Path(log_dir),
                StackOptions(stub_service_url=stub_url, worker_env={}, with_e2e=False, callback_env=HOOK_ENV),
            )
            try:
                client = await Client.connect(stack.temporal_address)
                async with httpx.AsyncClient(timeout=10) as http:
                    stub.http, stub.callback_base = http, stack.callback_base_url
                    yield client
            finally:
                stack.stop()


async def report_open_mailboxes(client: Client) -> tuple[int, int]:
    """Open mailboxes right after, and once their settle time has passed (printed as they are counted)."""
    await asyncio.sleep(2)  # visibility lags a little
    right_after = await open_mailboxes(client)
    print(f"open mailboxes right after: {right_after}", flush=True)
    await asyncio.sleep(DEFAULT_SETTLE_SECONDS + 10)
    later = await open_mailboxes(client)
    print(f"open mailboxes {DEFAULT_SETTLE_SECONDS + 12:g}s later: {later}", flush=True)
    return right_after, later


async def run(
    runs: int, concurrencies: list[int], sides: tuple[str, ...] = SIDES, mode: Mode = Mode.SIGNAL
) -> list[Row]:
    """Start the stack, measure both sides at each concurrency (alternating), stop everything."""
    stub = Stub()
    rows: list[Row] = []
    async with bench_stack(stub) as client:
        await _side(client, stub, "fixed-endpoint", 5, 10, mode)  # warm-up: both paths, caches, connections
        await _side(client, stub, "per-request", 5, 10, mode)
        for concurrency in concurrencies:
            for side in sides:
                row = await _side(client, stub, side, concurrency, runs, mode)
                rows.append(row)
                print(_line(row), flush=True)
        await report_open_mailboxes(client)
    return rows


def _write(out: Path, rows: list[Row]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "hooks.json").write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")


def _line(row: Row) -> str:
    return (
        f"| {row.side} | {row.concurrency} | {row.advanced}/{row.runs} | {row.advances_per_second:.1f} | "
        f"{row.p50_ms:.0f} | {row.p99_ms:.0f} | {row.answer_p50_ms:.0f} | {row.answer_p99_ms:.0f} | {row.non_2xx} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.bench.hooks`."""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.hooks", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs per side and concurrency")
    parser.add_argument("--concurrency", default="1,50", help="comma-separated, e.g. 1,50")
    parser.add_argument("--out", type=Path, default=None, help="write hooks.json here")
    parser.add_argument(
        "--sides",
        default=",".join(SIDES),
        help="comma-separated sides to measure (e.g. fixed-endpoint alone for the 10k open-mailbox count)",
    )
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.SIGNAL.value, help="the stages' mode")
    args = parser.parse_args(argv)
    sides = tuple(side.strip() for side in args.sides.split(",") if side.strip())
    if not sides or any(side not in SIDES for side in sides):
        parser.error(f"--sides takes {', '.join(SIDES)}")
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if args.runs < 1 or not concurrencies or min(concurrencies) < 1:
        parser.error("--runs and every --concurrency must be positive")
    print(
        "| side | c | advanced | advances/s | p50 ms | p99 ms | answer p50 ms | answer p99 ms | non-2xx |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    rows = asyncio.run(run(args.runs, concurrencies, sides, Mode(args.mode)))
    if args.out is not None:
        _write(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
