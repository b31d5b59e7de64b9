"""Wait for a run to close and turn however it ended into a RunReport."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable
from datetime import timedelta

import temporalio.converter
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError

from app.payloads import QUERY_STATUS, RunResult, RunStatus
from cli.render import RunReport, report_from_result, seconds_between

StatusCallback = Callable[[RunStatus], None]


def ui_link(ui_url: str, namespace: str, workflow_id: str) -> str:
    """Where the run lives in the Temporal Web UI."""
    return f"{ui_url}/namespaces/{namespace}/workflows/{workflow_id}"


async def query_status(handle: WorkflowHandle[object, RunResult], *, timeout: float = 5.0) -> RunStatus | None:
    """The run's `status` query, or None when no worker answers in time."""
    try:
        status: RunStatus = await handle.query(
            QUERY_STATUS, result_type=RunStatus, rpc_timeout=timedelta(seconds=timeout)
        )
        return status
    except (RPCError, TimeoutError):
        return None


async def wait_for_report(
    client: Client,
    handle: WorkflowHandle[object, RunResult],
    *,
    ui_url: str,
    on_status: StatusCallback | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> RunReport:
    """Wait until the run closes (polling `status` for live progress) and report how it ended."""
    started = time.monotonic()
    result_task = asyncio.ensure_future(handle.result())
    try:
        while not result_task.done():
            if timeout is not None and time.monotonic() - started > timeout:
                raise builtins.TimeoutError(f"run {handle.id} still open after {timeout:g}s")
            if on_status is not None:
                status = await query_status(handle)
                if status is not None:
                    on_status(status)
            await asyncio.wait({result_task}, timeout=poll_seconds)
    finally:
        if not result_task.done():
            result_task.cancel()
    link = ui_link(ui_url, client.namespace, handle.id)
    try:
        result = result_task.result()
    except WorkflowFailureError as err:
        return await _failure_report(handle, err, link)
    return report_from_result(handle.id, handle.result_run_id, result, link)


async def _failure_report(handle: WorkflowHandle[object, RunResult], err: WorkflowFailureError, link: str) -> RunReport:
    cause = err.cause
    status, error_type, message = "failed", type(cause).__name__, str(cause)
    partial: RunResult | None = None
    if isinstance(cause, ApplicationError):
        error_type, message = cause.type or "ApplicationError", cause.message
        if error_type == "StageCancelled":
            status = "cancelled"
        if error_type == "StageTimedOut":
            status = "timed_out"
        if cause.details:
            partial = temporalio.converter.value_to_type(RunResult, cause.details[0], [])
    elif isinstance(cause, CancelledError):
        status = "cancelled"
    elif isinstance(cause, TerminatedError):
        status = "terminated"
    elif isinstance(cause, TemporalTimeoutError):
        status = "timed_out"
    # Cancelled/terminated runs carry no details: the status query (replayed on a worker) still knows.
    known: RunResult | RunStatus | None = partial or await query_status(handle)
    return RunReport(
        workflow_id=handle.id,
        run_id=handle.result_run_id,
        mode=known.mode.value if known else "unknown",
        status=status,
        stages=known.stages if known else [],
        ui_url=link,
        error_type=error_type,
        error=message,
        wall_seconds=seconds_between(partial.started_at, partial.finished_at) if partial else None,
        actions=[a.value for a in known.actions] if known else [],
    )
