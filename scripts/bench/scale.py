"""`python -m scripts.bench --scale N`: N runs waiting at their gate at once, then all advanced over HTTP.

The stub service holds every stage request (no callback yet); once all N runs wait, the bench POSTs every
signed callback URL to the callback server. Visibility counts and a sampler over the stack's processes give
the timeline: started, waiting, completed, CPU and memory of each process.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from temporalio.client import Client

from app.demo.payloads import WORKFLOW_NAME, StagedRunInput
from app.gate.types import Mode
from app.starter import start_staged_run
from scripts.bench.compare import Outputs, load_average, machine
from scripts.bench.sampler import Sample, Sampler
from scripts.bench.scale_report import plot_scale, scale_markdown
from scripts.bench.scale_results import Point, ScaleResults
from scripts.bench.stack import STUB_TASK_QUEUE, StackOptions, start_bench_stack
from scripts.bench.stub_service import StageAsk, StubServer, StubService
from scripts.stack.dev_server import connect
from scripts.stack.processes import free_port


@dataclass(frozen=True)
class ScalePlan:
    """How many runs, in which mode, and how hard to push."""

    runs: int = 10_000
    mode: Mode = Mode.SIGNAL
    start_concurrency: int = 50
    fire_concurrency: int = 32  # one callback server process: more connections only cost the sender CPU
    stage_timeout: float = 3600.0
    phase_timeout: float = 1800.0  # each of: all waiting, all completed
    worker_env: dict[str, str] = field(default_factory=dict)
    # A running Temporal instead of a dev server of its own (`just cluster-bench-scale`), and its processes to
    # sample beside ours: name -> pid; the names in `sample_trees` count their children too (PostgreSQL's backends).
    temporal_address: str | None = None
    sample_pids: dict[str, int] = field(default_factory=dict)
    sample_trees: tuple[str, ...] = ()
    history_samples: int = 20  # runs whose history size is read (describe) once all have completed


class Holder:
    """The stub's side of a scale run: keeps every stage request until it is time to call back."""

    def __init__(self) -> None:
        self.asks: dict[str, StageAsk] = {}

    async def hold(self, ask: StageAsk) -> None:
        self.asks[ask.workflow_id] = ask


async def run_scale(plan: ScalePlan, outputs: Outputs, console: Console) -> ScaleResults:
    """The whole scale run; writes JSON, markdown and the timeline PNG."""
    began, load_at_start = time.monotonic(), load_average()
    log_dir = Path(tempfile.mkdtemp(prefix="stagegate-scale-"))
    holder = Holder()
    stub = StubService(holder.hold)
    results = ScaleResults(meta={"started_at": datetime.now(UTC).isoformat(timespec="seconds")}, runs=plan.runs)
    async with StubServer(stub, free_port()) as server:
        console.print(f"starting the stack (logs in {log_dir})")
        stack = await start_bench_stack(
            log_dir,
            StackOptions(
                stub_service_url=server.url,
                worker_env=plan.worker_env,
                with_e2e=False,
                temporal_address=plan.temporal_address,
            ),
        )
        try:
            client = await connect(stack.temporal_address)
            pids = {**plan.sample_pids, **stack.pids()}
            async with Sampler(pids, interval=1.0, trees=frozenset(plan.sample_trees)) as sampler:
                await _drive(client, plan, holder, sampler, results, console)
        finally:
            stack.stop()
    results.meta.update(
        machine=machine(load_at_start),
        plan={**asdict(plan), "mode": plan.mode.value},
        command=" ".join(["python -m scripts.bench", *sys.argv[1:]]),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - began, 1),
        log_dir=str(log_dir),
        pids={**plan.sample_pids, **stack.pids()},
        temporal_address=stack.temporal_address,
    )
    outputs.json.parent.mkdir(parents=True, exist_ok=True)
    outputs.json.write_text(json.dumps(results.to_json(), indent=1) + "\n")
    outputs.markdown.write_text(scale_markdown(results))
    plot_scale(results, outputs.plot)
    from rich.markdown import Markdown

    console.print(Markdown(scale_markdown(results)))
    return results


@dataclass
class _Counts:
    """Live counts the progress bars and the timeline read."""

    started: int = 0
    answered: int = 0
    completed: int = 0
    count_errors: int = 0
    answers: dict[str, int] = field(default_factory=dict)


async def _drive(
    client: Client, plan: ScalePlan, holder: Holder, sampler: Sampler, results: ScaleResults, console: Console
) -> None:
    counts = _Counts()
    t0 = time.monotonic()
    t_fire = math.inf
    stop = asyncio.Event()
    # Every count is of this run's workflow IDs only: a long-lived server (the cluster) keeps earlier runs.
    prefix = f"bench-scale-{uuid.uuid4().hex[:6]}-"
    timeline_task = asyncio.create_task(_timeline(client, sampler, holder, counts, results, t0, stop, prefix))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as bar:
            await _start_all(client, plan, prefix, counts, bar)
            results.start_seconds = time.monotonic() - t0
            results.started = counts.started
            waiting = bar.add_task("waiting at their gate", total=plan.runs)
            await _until(lambda: _show(bar, waiting, len(holder.asks)) >= plan.runs, plan.phase_timeout)
            results.all_waiting_seconds = time.monotonic() - t0
            results.waiting = len(holder.asks)
            waiting_sample = sampler.take()
            results.rss_at_waiting_mb = {n: round(v / 2**20, 1) for n, v in waiting_sample.rss.items()}
            t_fire = time.monotonic()
            await _fire_all(plan, holder, counts, bar)
            results.deliver_seconds = time.monotonic() - t_fire
            completed = bar.add_task("completed (visibility count)", total=plan.runs)
            await _until(lambda: _show(bar, completed, counts.completed) >= plan.runs, plan.phase_timeout)
            results.advance_seconds = time.monotonic() - t_fire
    finally:
        stop.set()
        await timeline_task
    results.callback_answers = counts.answers
    results.completed = await _count(client, "Completed", prefix)
    await _history_sizes(client, [f"{prefix}{i}" for i in range(min(plan.history_samples, plan.runs))], results)
    results.failed_or_open = plan.runs - results.completed
    results.start_rate = results.started / results.start_seconds if results.start_seconds else math.nan
    results.advance_rate = results.completed / results.advance_seconds if results.advance_seconds else math.nan
    results.meta["visibility_count_errors"] = counts.count_errors
    _busiest(results, sampler.samples, t0, t_fire)


def _show(bar: Progress, task: TaskID, value: int) -> int:
    bar.update(task, completed=value)
    return value


async def _start_all(client: Client, plan: ScalePlan, prefix: str, counts: _Counts, bar: Progress) -> None:
    """Start every run, `start_concurrency` starts in flight at once."""
    inp = StagedRunInput(
        mode=plan.mode, stages=1, time_to_request=0.0, time_to_callback=0.0, stage_timeout_seconds=plan.stage_timeout
    )
    task = bar.add_task(f"starting {plan.runs} {plan.mode.value} runs", total=plan.runs)
    gate = asyncio.Semaphore(plan.start_concurrency)

    async def start(i: int) -> None:
        async with gate:
            await start_staged_run(client, STUB_TASK_QUEUE, inp, workflow_id=f"{prefix}{i}")
        counts.started += 1
        bar.advance(task)

    await asyncio.gather(*(start(i) for i in range(plan.runs)))


async def _fire_all(plan: ScalePlan, holder: Holder, counts: _Counts, bar: Progress) -> None:
    """POST every held callback URL to the callback server, retrying 5xx and connection errors like a sender."""
    task = bar.add_task("callbacks through the callback server", total=plan.runs)
    gate = asyncio.Semaphore(plan.fire_concurrency)
    limits = httpx.Limits(max_connections=plan.fire_concurrency, max_keepalive_connections=plan.fire_concurrency)
    async with httpx.AsyncClient(trust_env=False, timeout=60.0, limits=limits) as http:

        async def fire(ask: StageAsk) -> None:
            async with gate:
                for attempt in range(8):
                    try:
                        response = await http.post(ask.callback_url, json={"callback_id": ask.idempotency_key})
                        status = str(response.status_code)
                    except httpx.HTTPError as err:
                        status = f"http error {type(err).__name__}"
                    counts.answers[status] = counts.answers.get(status, 0) + 1
                    if status in ("200", "202") or status.startswith("4"):
                        break
                    await asyncio.sleep(0.2 * (attempt + 1))
            counts.answered += 1
            bar.advance(task)

        await asyncio.gather(*(fire(a) for a in list(holder.asks.values())))


async def _count(client: Client, status: str, prefix: str) -> int:
    query = f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = '{status}' AND WorkflowId STARTS_WITH '{prefix}'"
    return (await client.count_workflows(query)).count


async def _history_sizes(client: Client, workflow_ids: list[str], results: ScaleResults) -> None:
    """Mean history size (bytes, events) of the sampled runs, as the server accounts it (describe)."""
    sizes: list[tuple[int, int]] = []
    for workflow_id in workflow_ids:
        info = (await client.get_workflow_handle(workflow_id).describe()).raw_description.workflow_execution_info
        sizes.append((info.history_size_bytes, info.history_length))
    if sizes:
        results.history_bytes_per_run = sum(b for b, _ in sizes) / len(sizes)
        results.history_events_per_run = sum(e for _, e in sizes) / len(sizes)


async def _until(done: Callable[[], bool], timeout: float) -> None:
    """Poll `done` twice a second (the counts come from polling too: there is no event to wait on)."""
    async with asyncio.timeout(timeout):
        while not done():  # noqa: ASYNC110
            await asyncio.sleep(0.5)


async def _timeline(
    client: Client,
    sampler: Sampler,
    holder: Holder,
    counts: _Counts,
    results: ScaleResults,
    t0: float,
    stop: asyncio.Event,
    prefix: str,
) -> None:
    """Once a second: the counts (completions from visibility) and each process's CPU % and RSS."""
    previous: Sample | None = None
    while not stop.is_set():
        try:
            counts.completed = await _count(client, "Completed", prefix)
        except Exception:  # noqa: BLE001  # a slow count under load keeps the last value; counted, not fatal
            counts.count_errors += 1
        sample = sampler.samples[-1] if sampler.samples else None
        if sample is not None and previous is not None and sample.at > previous.at:
            span = sample.at - previous.at
            cpu = {n: 100 * (sample.cpu[n] - previous.cpu.get(n, 0.0)) / span for n in sample.cpu}
            rss = {n: v / 2**20 for n, v in sample.rss.items()}
            results.timeline.append(
                Point(
                    round(time.monotonic() - t0, 1),
                    counts.started,
                    len(holder.asks),
                    counts.answered,
                    counts.completed,
                    cpu,
                    rss,
                )
            )
            for name, mb in rss.items():
                results.peak_rss_mb[name] = max(results.peak_rss_mb.get(name, 0.0), mb)
        previous = sample
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


def _busiest(results: ScaleResults, samples: list[Sample], t0: float, t_fire: float) -> None:
    """Mean CPU % of each process while starting and while advancing; the busiest one saturated first."""
    phases = {"start until all waiting": (t0, t0 + results.all_waiting_seconds), "advance": (t_fire, math.inf)}
    for phase, (start, end) in phases.items():
        inside = [s for s in samples if start <= s.at <= end]
        if len(inside) < 2:
            continue
        first, last = inside[0], inside[-1]
        span = last.at - first.at
        mean = {n: 100 * (last.cpu[n] - first.cpu.get(n, 0.0)) / span for n in last.cpu}
        results.busiest[phase] = {n: round(v, 1) for n, v in sorted(mean.items(), key=lambda kv: -kv[1])}
        name, pct = next(iter(results.busiest[phase].items()))
        total = sum(mean.values())
        results.saturated_first[phase] = (
            f"{name} at {pct:.0f}% of one core (all measured processes together {total:.0f}% of the machine's "
            f"{100 * (psutil_cpus())}%)"
        )


def psutil_cpus() -> int:
    import psutil

    return psutil.cpu_count() or 1
