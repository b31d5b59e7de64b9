"""Scale-out on loopback: N workers and M callback servers behind a balancer, a load run, and who did what.

Shared by `python -m scripts.scale_out` and tests/scripts/test_scale_out.py. Every process is a real subprocess
started by the stack starter (`scripts.stack.services`: its own process group, stopped by pid); the balancer
runs on the caller's event loop. The per-process attribution comes from Temporal itself: each
process's client identity is the SDK default `pid@hostname`, and the workflow histories record the
identity that started every workflow task and activity task, sent every signal and completed every
activity by task token.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from app.demo.payloads import RunResult, StagedRunInput
from app.gate.types import Mode, Outcome
from app.starter import start_staged_run
from scripts.scale_out.balancer import RoundRobinBalancer
from scripts.stack.processes import ManagedProcess, free_port, loopback_env
from scripts.stack.runs import RunEnd, wait_end
from scripts.stack.services import Stack, callback_server, service_mock, start_stack, worker


@dataclass(frozen=True)
class ScaleStack:
    """The running processes of a scale-out and where to reach them."""

    task_queue: str
    service_url: str
    callback_base_url: str  # the balancer: what every worker hands to the service
    callback_urls: dict[str, str]  # callback server name -> its own URL (the balancer's upstreams)
    metrics_urls: dict[str, str]  # worker name -> its Prometheus endpoint
    stack: Stack

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        return self.stack.processes

    @property
    def workers(self) -> list[str]:
        return list(self.metrics_urls)

    @property
    def callback_servers(self) -> list[str]:
        return list(self.callback_urls)

    def owner(self, identity: str) -> str:
        """The process name behind a Temporal identity (`pid@hostname`, the SDK default), else the identity."""
        pid = identity.partition("@")[0]
        for name, proc in self.processes.items():
            if str(proc.pid) == pid:
                return name
        return identity

    def stop(self) -> None:
        """Stop every process by pid, workers first (they drain), then callback servers, then the service."""
        self.stack.stop()


async def start_scale_stack(
    temporal_address: str,
    log_dir: Path,
    *,
    task_queue: str,
    callback_base_url: str,
    callback_ports: Sequence[int],
    signing_secret: str,
    workers: int = 2,
) -> ScaleStack:
    """Start the service mock, one callback server per port and `workers` workers; wait until all are healthy.

    Every worker gets the same task queue and CALLBACK_BASE_URL (the balancer) and its own metrics port; every
    process the same signing secret.
    """
    env = loopback_env(temporal_address, signing_secret=signing_secret)
    service_port = free_port()
    env.update(
        STAGEGATE_TASK_QUEUE=task_queue,
        CALLBACK_BASE_URL=callback_base_url,
        SERVICE_PORT=str(service_port),
        SERVICE_URL=f"http://127.0.0.1:{service_port}",
    )
    specs = {"service_mock": service_mock(service_port)}
    callback_urls: dict[str, str] = {}
    metrics_urls: dict[str, str] = {}
    for i, port in enumerate(callback_ports, start=1):
        specs[f"callback-{i}"] = callback_server(port)
        callback_urls[f"callback-{i}"] = f"http://127.0.0.1:{port}"
    for i in range(1, workers + 1):
        specs[f"worker-{i}"] = worker(free_port())
        metrics_urls[f"worker-{i}"] = specs[f"worker-{i}"].health_url
    stack = await asyncio.to_thread(start_stack, env, log_dir, specs)
    return ScaleStack(
        task_queue=task_queue,
        service_url=env["SERVICE_URL"],
        callback_base_url=callback_base_url,
        callback_urls=callback_urls,
        metrics_urls=metrics_urls,
        stack=stack,
    )


@dataclass(frozen=True)
class ScaleOut:
    """A running scale-out: the processes and the balancer in front of the callback servers."""

    stack: ScaleStack
    balancer: RoundRobinBalancer

    def callback_counts(self) -> dict[str, int]:
        """Requests each callback server got through the balancer, by process name."""
        by_url = self.balancer.counts()
        return {name: by_url[url] for name, url in self.stack.callback_urls.items()}


@asynccontextmanager
async def scale_out(
    temporal_address: str,
    log_dir: Path,
    *,
    task_queue: str,
    workers: int = 2,
    callback_servers: int = 2,
    signing_secret: str | None = None,
) -> AsyncIterator[ScaleOut]:
    """Balancer first (its URL goes into the workers' env), then the processes; everything stops on exit.

    The processes share `signing_secret`, or a fresh random one (only they need to know it).
    """
    ports = [free_port() for _ in range(callback_servers)]
    async with RoundRobinBalancer([f"http://127.0.0.1:{p}" for p in ports]) as balancer:
        stack = await start_scale_stack(
            temporal_address,
            log_dir,
            task_queue=task_queue,
            callback_base_url=balancer.url,
            callback_ports=ports,
            signing_secret=signing_secret or secrets.token_hex(32),
            workers=workers,
        )
        try:
            yield ScaleOut(stack=stack, balancer=balancer)
        finally:
            # Blocking waits (up to 10 s per process); the balancer is not needed any more.
            await asyncio.to_thread(stack.stop)


@dataclass
class LoadResult:
    """What a load run started and how each run ended (None: still not closed when the wait timed out)."""

    handles: list[WorkflowHandle[object, RunResult]]
    ends: list[RunEnd | None]
    wall_seconds: float
    stages: int

    @property
    def started(self) -> int:
        return len(self.handles)

    @property
    def completed(self) -> int:
        return sum(1 for e in self.ends if e is not None and e.result is not None)

    @property
    def lost(self) -> list[str]:
        """IDs of runs that did not complete (failed, or not closed in time)."""
        return [h.id for h, e in zip(self.handles, self.ends, strict=True) if e is None or e.result is None]

    @property
    def failures(self) -> Counter[str]:
        """Why runs did not complete: error type, or 'not closed in time'."""
        return Counter(
            "not closed in time" if e is None else str(e.error_type) for e in self.ends if e is None or e.result is None
        )

    def stage_problems(self) -> list[str]:
        """Stages of completed runs that did not complete on their first attempt."""
        problems = []
        for handle, end in zip(self.handles, self.ends, strict=True):
            if end is None or end.result is None:
                continue
            if len(end.result.stages) != self.stages:
                problems.append(f"{handle.id}: {len(end.result.stages)} stages, expected {self.stages}")
            problems.extend(
                f"{handle.id} stage {s.stage}: {s.outcome.value}, attempt {s.attempts}"
                for s in end.result.stages
                if s.outcome is not Outcome.COMPLETED or s.attempts != 1
            )
        return problems


async def run_load(
    client: Client,
    task_queue: str,
    *,
    runs: int,
    stages: int = 2,
    time_to_request: float = 0.05,
    time_to_callback: float = 0.2,
    stage_timeout: float = 60.0,
    wait_timeout: float = 120.0,
    start_concurrency: int = 50,
) -> LoadResult:
    """Start `runs` runs at once, alternating signal and token mode, and wait for all of them."""
    inputs = [
        StagedRunInput(
            mode=Mode.SIGNAL if i % 2 == 0 else Mode.TOKEN,
            stages=stages,
            time_to_request=time_to_request,
            time_to_callback=time_to_callback,
            stage_timeout_seconds=stage_timeout,
        )
        for i in range(runs)
    ]
    gate = asyncio.Semaphore(start_concurrency)

    async def start(inp: StagedRunInput) -> WorkflowHandle[object, RunResult]:
        async with gate:
            return await start_staged_run(client, task_queue, inp)

    async def end(handle: WorkflowHandle[object, RunResult]) -> RunEnd | None:
        try:
            return await wait_end(handle, timeout=max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            return None

    began = time.monotonic()
    deadline = began + wait_timeout
    handles = await asyncio.gather(*(start(inp) for inp in inputs))
    ends = await asyncio.gather(*(end(h) for h in handles))
    return LoadResult(handles=handles, ends=ends, wall_seconds=time.monotonic() - began, stages=stages)


@dataclass
class Attribution:
    """Who did what, from the histories: counts per process name (or raw identity if unknown)."""

    activity_tasks: Counter[str] = field(default_factory=Counter)  # ActivityTaskStarted
    workflow_tasks: Counter[str] = field(default_factory=Counter)  # WorkflowTaskCompleted
    signals: Counter[str] = field(default_factory=Counter)  # WorkflowExecutionSignaled (signal-mode callbacks)
    activity_completions: Counter[str] = field(default_factory=Counter)  # ActivityTaskCompleted
    runs_on_several_workers: int = 0  # runs whose workflow tasks were completed by more than one worker
    identities: dict[str, str] = field(default_factory=dict)  # process name -> Temporal identity seen

    def add(self, stack: ScaleStack, counter: Counter[str], identity: str) -> str:
        owner = stack.owner(identity)
        self.identities[owner] = identity
        counter[owner] += 1
        return owner

    def callbacks_forwarded(self, name: str) -> int:
        """Callbacks a callback server handed to Temporal: signals plus task-token completions."""
        return self.signals[name] + self.activity_completions[name]


async def attribute(
    stack: ScaleStack, handles: Sequence[WorkflowHandle[object, RunResult]], *, concurrency: int = 50
) -> Attribution:
    """Read every run's history and count the events each process caused."""
    result = Attribution()
    gate = asyncio.Semaphore(concurrency)

    async def one(handle: WorkflowHandle[object, RunResult]) -> None:
        async with gate:
            history = await asyncio.wait_for(handle.fetch_history(), 30)
        wf_task_owners = set()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                identity = event.activity_task_started_event_attributes.identity
                result.add(stack, result.activity_tasks, identity)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                identity = event.workflow_task_completed_event_attributes.identity
                wf_task_owners.add(result.add(stack, result.workflow_tasks, identity))
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                identity = event.workflow_execution_signaled_event_attributes.identity
                result.add(stack, result.signals, identity)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                identity = event.activity_task_completed_event_attributes.identity
                result.add(stack, result.activity_completions, identity)
        result.runs_on_several_workers += len(wf_task_owners) > 1

    await asyncio.gather(*(one(h) for h in handles))
    return result


async def scrape_metrics(stack: ScaleStack, *, timeout: float = 5.0) -> dict[str, str]:
    """Each worker's /metrics text, by worker name."""
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as http:
        texts = await asyncio.gather(*(http.get(url) for url in stack.metrics_urls.values()))
    for response in texts:
        response.raise_for_status()
    return {name: r.text for name, r in zip(stack.metrics_urls, texts, strict=True)}


def temporal_metric_lines(text: str) -> list[str]:
    """The sample lines of Temporal SDK metrics (no # HELP / # TYPE comments)."""
    return [line for line in text.splitlines() if line.startswith("temporal_")]


def metric_total(text: str, name: str) -> float:
    """Sum of a metric's samples over all label sets (`name` exactly, e.g. temporal_workflow_completed)."""
    total = 0.0
    for line in temporal_metric_lines(text):
        if line.split("{", 1)[0].split(" ", 1)[0] == name:
            total += float(line.rsplit(" ", 1)[1])
    return total


def format_report(so: ScaleOut, load: LoadResult, who: Attribution, metrics: dict[str, str]) -> str:
    """A plain-text table: per worker, per callback server, the load's totals."""

    def identity(name: str) -> str:
        return who.identities.get(name, f"{so.stack.processes[name].pid}@?")

    rows = [
        f"{'worker':<16} {'identity':<24} {'activity tasks':>14} {'workflow tasks':>14} {'wf completed (metric)':>22}"
    ]
    for name in so.stack.workers:
        tasks = f"{who.activity_tasks[name]:>14} {who.workflow_tasks[name]:>14}"
        completed = metric_total(metrics.get(name, ""), "temporal_workflow_completed")
        rows.append(f"{name:<16} {identity(name):<24} {tasks} {completed:>22.0f}")
    rows.append("")
    rows.append(
        f"{'callback server':<16} {'identity':<24} {'url':<24} {'requests (balancer)':>19} {'forwarded (history)':>19}"
    )
    counts = so.callback_counts()
    for name, url in so.stack.callback_urls.items():
        rows.append(f"{name:<16} {identity(name):<24} {url:<24} {counts[name]:>19} {who.callbacks_forwarded(name):>19}")
    statuses = Counter[int]()
    for (_, status), n in so.balancer.statuses.items():
        statuses[status] += n
    rows.append(
        f"balancer {so.balancer.url}: answers by status {dict(sorted(statuses.items()))}, "
        f"502s {so.balancer.bad_gateway}, refused connections {sum(so.balancer.connect_errors.values())}"
    )
    rows.append("")
    rows.append(
        f"runs started {load.started}, completed {load.completed}, lost {len(load.lost)}"
        + (f" {dict(load.failures)}" if load.lost else "")
        + f"; stages not completed on attempt 1: {len(load.stage_problems())}"
    )
    rows.append(f"runs whose workflow tasks ran on more than one worker: {who.runs_on_several_workers}/{load.started}")
    rows.append(f"wall time {load.wall_seconds:.2f} s ({load.started / load.wall_seconds:.1f} runs/s)")
    return "\n".join(rows)
