"""What each `cli` command does against Temporal, imported only once a command runs (never for `--help`).

`cli.main` parses and checks the options with nothing heavier than typer; the Temporal client, Rich and the
stack's settings come in here, when there is work to do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from app.demo.payloads import RunResult, RunStatus
from app.errors import SettingsError
from app.gate.types import SIGNAL_ADVANCE_STAGE, GateStatus, Mode, StageCallback
from app.pipeline.types import (
    PIPELINE_WORKFLOW_NAME,
    QUERY_PIPELINE_STATUS,
    Pipeline,
    PipelineResult,
    PipelineRunInput,
    PipelineStatus,
)
from app.runtime.client import connect_client
from app.runtime.config import Settings, load_settings
from app.starter import start_pipeline_run, start_staged_run
from cli import listing
from cli.consoles import out
from cli.errors import CliError
from cli.outcomes import query_status, ui_link, wait_for_pipeline_report, wait_for_report
from cli.preflight import check_services
from cli.render import RunReport, print_report, side_by_side, stage_table, status_table
from cli.run_options import RunOptions

if TYPE_CHECKING:
    from rich.console import RenderableType

    from app.runtime.tracing import Tracing

T = TypeVar("T")
S = TypeVar("S")  # the status a run reports while it is followed

# Live progress on a terminal: one status query a second is plenty for stages that take seconds, and costs the
# worker and the server little (the result itself is one long poll). Piped output changes less often.
PROGRESS_SECONDS_TERMINAL = 1.0
PROGRESS_SECONDS_PIPED = 2.0
# `cli list`: status queries in flight at once (each may replay a run on a worker).
LIST_QUERY_CONCURRENCY = 16


# Tracing opened by this command: flushed by `shutdown_tracing` from cli.main's exit, which skips interpreter
# teardown (and so atexit handlers).
_open_tracing: list[Tracing] = []


def _for_starting(client: Client, settings: Settings) -> Client:
    """With tracing on (OTEL_*), the start call opens the run's trace; polling afterwards stays untraced.

    app.runtime.tracing (OpenTelemetry's SDK and exporters) is imported only when tracing is on: start-up stays light.
    """
    if not settings.tracing.enabled:
        return client
    from app.runtime.tracing import start_tracing, traced_client

    tracing = start_tracing(settings.tracing, component="stagegate-cli")
    if tracing is None:
        return client
    _open_tracing.append(tracing)
    return traced_client(client, tracing)


def shutdown_tracing() -> None:
    """Export the spans still buffered (called right before the process exits)."""
    while _open_tracing:
        _open_tracing.pop().shutdown()


def settings() -> Settings:
    """The environment, read once, or a one-line configuration error."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise CliError(f"configuration: {exc}") from exc


async def connect(settings: Settings) -> Client:
    """A client, or a one-line error that names the address and what to do."""
    try:
        return await asyncio.wait_for(connect_client(settings), timeout=15)
    except (TimeoutError, RuntimeError, RPCError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(
            f"cannot reach Temporal at {settings.temporal.address} (namespace {settings.temporal.namespace}): "
            f"{reason[:200]}. Is it running? (`just up`)"
        ) from exc


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine; Temporal's RPC errors become one-line CLI errors."""
    try:
        return asyncio.run(coro)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CliError(f"not found: {exc.message}") from exc
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise CliError(f"Temporal is not answering: {exc.message}") from exc
        raise CliError(f"Temporal said {exc.status.name}: {exc.message}") from exc


async def _checked_client(settings: Settings, *, preflight: bool, service: bool = True) -> Client:
    """Connect while the preflight check runs (both are network waits); a dead stack is reported first."""
    connecting = asyncio.ensure_future(connect(settings))
    try:
        if preflight:
            problem = await check_services(settings, service=service)
            if problem:
                raise CliError(f"{problem} (start the stack with `just up`, or pass --no-preflight)")
        return await connecting
    finally:
        if not connecting.done():
            connecting.cancel()


def _progress_seconds() -> float:
    return PROGRESS_SECONDS_TERMINAL if out().is_terminal else PROGRESS_SECONDS_PIPED


# --- start --------------------------------------------------------------------------------------------


async def start(
    settings: Settings, options: RunOptions, workflow_id: str | None, *, wait: bool, as_json: bool, preflight: bool
) -> RunReport | None:
    """Start a demo run; with `wait`, follow it to the end."""
    client = await _checked_client(settings, preflight=preflight)
    try:
        handle = await start_staged_run(
            _for_starting(client, settings), settings.task_queue, options.to_input(), workflow_id=workflow_id
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a workflow with ID {workflow_id!r} is already running") from exc
        raise
    link = ui_link(settings.temporal.ui_url, client.namespace, handle.id)
    if not wait:
        if as_json:
            print(json.dumps({"workflow_id": handle.id, "run_id": handle.result_run_id, "ui_url": link}))
        else:
            print(f"started {handle.id} ({options.mode.value} mode)\nWeb UI: {link}", flush=True)
        return None
    if as_json:
        report = await wait_for_report(client, handle, ui_url=settings.temporal.ui_url)
        print(report.to_json())
        return report
    print(f"started {handle.id} ({options.mode.value} mode, {options.stages} stages)\nWeb UI: {link}", flush=True)
    report = await _watch(client, handle, settings)
    print_report(out(), report)
    return report


async def start_pipeline(
    settings: Settings,
    run_input: PipelineRunInput,
    workflow_id: str | None,
    *,
    wait: bool,
    as_json: bool,
    preflight: bool,
) -> RunReport | None:
    """Start a pipeline run; with `wait`, follow it to the end."""
    pipeline = run_input.pipeline
    client = await _checked_client(settings, preflight=preflight, service=False)
    try:
        handle = await start_pipeline_run(
            _for_starting(client, settings), settings.task_queue, run_input, workflow_id=workflow_id
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a workflow with ID {workflow_id!r} is already running") from exc
        raise
    link = ui_link(settings.temporal.ui_url, client.namespace, handle.id)
    mode = run_input.mode.value
    if not wait:
        if as_json:
            print(json.dumps({"workflow_id": handle.id, "run_id": handle.result_run_id, "ui_url": link}))
        else:
            print(f"started {handle.id} (pipeline {pipeline.name}, {mode} mode)\nWeb UI: {link}", flush=True)
        return None
    if as_json:
        report = await wait_for_pipeline_report(client, handle, ui_url=settings.temporal.ui_url, mode=mode)
        print(report.to_json())
        return report
    print(
        f"started {handle.id} (pipeline {pipeline.name}, {mode} mode, {len(pipeline.stages)} stages)\nWeb UI: {link}",
        flush=True,
    )
    report = await _watch_pipeline(client, handle, settings, pipeline, mode)
    print_report(out(), report)
    return report


async def _watch_pipeline(
    client: Client, handle: WorkflowHandle[object, PipelineResult], settings: Settings, pipeline: Pipeline, mode: str
) -> RunReport:
    """Live progress from the gate's own `gate_status` query, which every gate user answers."""
    names = [s.name for s in pipeline.stages]

    def where(status: GateStatus) -> str:
        current = status.current_stage
        number = names.index(current) + 1 if isinstance(current, str) and current in names else 0
        return f"stage {current or '-'} ({number}/{len(names)}): waiting for {status.waiting_for.value}"

    return await _follow(
        lambda on_status: wait_for_pipeline_report(
            client,
            handle,
            ui_url=settings.temporal.ui_url,
            mode=mode,
            on_status=on_status,
            poll_seconds=_progress_seconds(),
        ),
        table=lambda s: stage_table(s.stages, actions=None, title=f"{handle.id}  pipeline {pipeline.name}  {where(s)}"),
        line=where,
    )


async def _watch(client: Client, handle: WorkflowHandle[object, RunResult], settings: Settings) -> RunReport:
    """Live per-stage progress of a demo run."""

    def wait(on_status: Callable[[RunStatus], None]) -> Awaitable[RunReport]:
        return wait_for_report(
            client, handle, ui_url=settings.temporal.ui_url, on_status=on_status, poll_seconds=_progress_seconds()
        )

    def table(status: RunStatus) -> RenderableType:
        return status_table(handle.id, status)

    def line(status: RunStatus) -> str:
        return f"stage {status.current_stage or '-'}/{status.stages_total}: waiting for {status.waiting_for.value}"

    return await _follow(wait, table=table, line=line)


async def _follow(
    wait: Callable[[Callable[[S], None]], Awaitable[RunReport]],
    *,
    table: Callable[[S], RenderableType],
    line: Callable[[S], str],
) -> RunReport:
    """Wait for a run, showing each status it reports: a Rich live table on a terminal, a line per change
    otherwise. Redrawn when a status arrives, not on a timer: an idle wait costs no CPU."""
    console = out()
    if console.is_terminal:
        from rich.live import Live

        with Live(console=console, auto_refresh=False, transient=True) as live:
            return await wait(lambda status: live.update(table(status), refresh=True))
    last: list[str] = []

    def show(status: S) -> None:
        text = line(status)
        if not last or last[-1] != text:
            last.append(text)
            print(text, flush=True)

    return await wait(show)


# --- status / result / signal / list -------------------------------------------------------------


@dataclass(frozen=True)
class PendingActivity:
    """A pending activity as `status` shows it (token mode: the stage's open activity)."""

    activity: str
    attempt: int
    last_heartbeat: list[Any]


async def status(settings: Settings, workflow_id: str, *, as_json: bool) -> None:
    """Print a run's status (demo or pipeline)."""
    client = await connect(settings)
    handle = client.get_workflow_handle(workflow_id, result_type=RunResult)
    description = await handle.describe()
    if description.workflow_type == PIPELINE_WORKFLOW_NAME:
        await _pipeline_status(client, workflow_id, description.status, as_json=as_json)
        return
    state = await query_status(handle)
    # Token mode: progress lives in the pending activity's heartbeat details.
    pending = [
        PendingActivity(
            activity=p.activity_type.name,
            attempt=p.attempt,
            last_heartbeat=(await client.data_converter.decode(p.heartbeat_details.payloads))[-1:]
            if p.HasField("heartbeat_details")
            else [],
        )
        for p in description.raw_description.pending_activities
    ]
    execution = description.status.name.lower() if description.status else "unknown"
    if as_json:
        body = {
            "workflow_id": workflow_id,
            "execution_status": execution,
            "status": asdict(state) if state else None,
            "pending_activities": [asdict(p) for p in pending],
        }
        print(json.dumps(body, default=str))
        return
    console = out()
    if state is None:
        console.print(f"{workflow_id}: {execution} (no worker answered the status query)")
        return
    console.print(status_table(workflow_id, state))
    console.print(
        f"execution: {execution}   duplicates ignored: {state.duplicates_ignored}   "
        f"rejected: {state.rejected}   runs: {state.runs}"
    )
    for rejection in state.last_rejections:
        console.print(f"rejected {rejection.at}: {rejection.reason} (received {rejection.received})", markup=False)
    for p in pending:
        console.print(f"pending activity {p.activity} attempt {p.attempt}, last heartbeat: {p.last_heartbeat or '-'}")


async def _pipeline_status(
    client: Client, workflow_id: str, execution_status: WorkflowExecutionStatus | None, *, as_json: bool
) -> None:
    execution = execution_status.name.lower() if execution_status else "unknown"
    try:
        state: PipelineStatus | None = await client.get_workflow_handle(workflow_id).query(
            QUERY_PIPELINE_STATUS, result_type=PipelineStatus, rpc_timeout=timedelta(seconds=5)
        )
    except (RPCError, TimeoutError):
        state = None
    if as_json:
        body = {"workflow_id": workflow_id, "execution_status": execution, "status": asdict(state) if state else None}
        print(json.dumps(body, default=str))
        return
    console = out()
    if state is None:
        console.print(f"{workflow_id}: {execution} (no worker answered the status query)")
        return
    current = state.current_stage
    number = state.stage_names.index(current) + 1 if isinstance(current, str) and current in state.stage_names else 0
    title = (
        f"{workflow_id}  pipeline {state.pipeline}  mode={state.mode.value}  stage {current or '-'} "
        f"({number}/{len(state.stage_names)})  waiting for: {state.waiting_for.value}"
    )
    console.print(stage_table(state.stages, actions=None, title=title))
    console.print(
        f"execution: {execution}   duplicates ignored: {state.duplicates_ignored}   "
        f"rejected: {state.rejected}   runs: {state.runs}"
    )
    for rejection in state.last_rejections:
        console.print(f"rejected {rejection.at}: {rejection.reason} (received {rejection.received})", markup=False)


async def result(settings: Settings, workflow_id: str, *, as_json: bool, timeout: float) -> RunReport:
    """Wait for a run's end (bounded by `timeout`) and print its report."""
    client = await connect(settings)
    handle = client.get_workflow_handle(workflow_id, result_type=RunResult)
    description = await handle.describe()  # a clear "not found" before waiting
    try:
        if description.workflow_type == PIPELINE_WORKFLOW_NAME:
            report = await wait_for_pipeline_report(
                client,
                client.get_workflow_handle(workflow_id, result_type=PipelineResult),
                ui_url=settings.temporal.ui_url,
                mode="unknown",
                timeout=timeout,
            )
        else:
            report = await wait_for_report(client, handle, ui_url=settings.temporal.ui_url, timeout=timeout)
    except TimeoutError as exc:
        raise CliError(str(exc) or f"run {workflow_id} still open after {timeout:g}s") from exc
    if as_json:
        print(report.to_json())
    else:
        print_report(out(), report)
    return report


async def signal(settings: Settings, workflow_id: str, payload: StageCallback) -> None:
    """Send `advance_stage` by hand."""
    client = await connect(settings)
    await client.get_workflow_handle(workflow_id).signal(SIGNAL_ADVANCE_STAGE, payload)
    out().print(f"sent {SIGNAL_ADVANCE_STAGE} {json.dumps(asdict(payload), default=str)} to {workflow_id}")


async def list_runs(settings: Settings, wanted: listing.ListFilter, *, as_json: bool) -> None:
    """`cli list`: visibility first, then what each run says (see cli/listing.py)."""
    client = await connect(settings)
    query, rows = await listing.find_runs(client, wanted)
    if as_json:
        print(listing.as_json(rows))
    else:
        listing.print_table(query, rows)


# --- demo ----------------------------------------------------------------------------------------


async def demo(settings: Settings, options: RunOptions) -> list[RunReport]:
    """The same work once in each mode, at the same time, side by side."""
    problem = await check_services(settings)
    if problem:
        raise CliError(problem)
    client = await connect(settings)
    starter = _for_starting(client, settings)
    handles = [
        await start_staged_run(starter, settings.task_queue, options.with_mode(mode).to_input()) for mode in Mode
    ]
    console = out()
    for h in handles:
        console.print(f"started {h.id}: {ui_link(settings.temporal.ui_url, client.namespace, h.id)}")
    reports = await asyncio.gather(*(wait_for_report(client, h, ui_url=settings.temporal.ui_url) for h in handles))
    for r in reports:
        print_report(console, r)
    side_by_side(console, list(reports))
    return list(reports)
