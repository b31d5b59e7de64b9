"""What each `cli` command does against Temporal, imported only once a command runs (never for `--help`).

`cli.main` parses and checks the options with nothing heavier than typer; the Temporal client, Rich and the
stack's settings come in here, when there is work to do.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from app.demo.payloads import RunResult
from app.gate.types import SIGNAL_ADVANCE_STAGE, Mode, StageCallback
from app.pipeline.types import (
    PIPELINE_WORKFLOW_NAME,
    QUERY_PIPELINE_STATUS,
    PipelineResult,
    PipelineStatus,
)
from app.runtime.config import Settings
from app.starter import start_staged_run
from cli import listing
from cli.consoles import out
from cli.errors import CliError
from cli.outcomes import query_status, wait_for_pipeline_report, wait_for_report
from cli.preflight import check_services
from cli.render import RunReport, print_report, side_by_side, stage_table, status_table
from cli.run_options import RunOptions
from cli.session import connect, for_starting, ui_link

# Re-exported: the commands in cli.main reach the shared plumbing through this module (`operations.run(...)`).
from cli.session import run as run  # noqa: PLC0414
from cli.session import settings as settings  # noqa: PLC0414

# `cli list`: status queries in flight at once (each may replay a run on a worker).
LIST_QUERY_CONCURRENCY = 16


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
    starter = for_starting(client, settings)
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
