"""Wait for a run to close and turn however it ended into a RunReport."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import temporalio.converter
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError

from app.demo.payloads import QUERY_STATUS, RunResult, RunStatus
from app.gate.types import QUERY_GATE_STATUS, GateStatus, WaitingFor
from app.pipeline.types import PipelineResult
from cli.render import RunReport, report_from_result, seconds_between
from cli.session import ui_link

StatusCallback = Callable[[RunStatus], None]
GateStatusCallback = Callable[[GateStatus], None]
R = TypeVar("R")
_NO_GATE = GateStatus(
    current_stage=None,
    waiting_for=WaitingFor.NOTHING,
    stages=[],
    early_callbacks=[],
    duplicates_ignored=0,
    rejected=0,
    last_rejections=[],
    runs=1,
)


async def query_status(handle: WorkflowHandle[object, RunResult], *, timeout: float = 5.0) -> RunStatus | None:
    """The run's `status` query, or None when no worker answers in time."""
    try:
        status: RunStatus = await handle.query(
            QUERY_STATUS, result_type=RunStatus, rpc_timeout=timedelta(seconds=timeout)
        )
        return status
    except (RPCError, TimeoutError):
        return None


async def _until_closed(
    handle: WorkflowHandle[object, R],
    *,
    tick: Callable[[], Awaitable[None]] | None,
    poll_seconds: float,
    timeout: float | None,
) -> asyncio.Future[R]:
    """Wait on the run's result (one long poll on the server), with `tick` every `poll_seconds` for progress.

    The result is awaited, never polled for: a run's end is seen the moment it happens, and without `tick`
    (`--json`, `result`, benchmarks) waiting costs no queries at all.
    """
    result_task = asyncio.ensure_future(handle.result())
    ticker = asyncio.ensure_future(_every(poll_seconds, tick)) if tick is not None else None
    try:
        done, _ = await asyncio.wait({result_task}, timeout=timeout)
        if not done:
            raise builtins.TimeoutError(f"run {handle.id} still open after {timeout:g}s")
    finally:
        if ticker is not None:
            ticker.cancel()
        if not result_task.done():
            result_task.cancel()
    return result_task


async def _every(seconds: float, tick: Callable[[], Awaitable[None]]) -> None:
    """Call `tick` now and then every `seconds`, until cancelled."""
    while True:
        await tick()
        await asyncio.sleep(seconds)


async def wait_for_report(
    client: Client,
    handle: WorkflowHandle[object, RunResult],
    *,
    ui_url: str,
    on_status: StatusCallback | None = None,
    poll_seconds: float = 1.0,
    timeout: float | None = None,
) -> RunReport:
    """Wait until the run closes and report how it ended; with `on_status`, the `status` query every `poll_seconds`."""

    async def tick() -> None:
        status = await query_status(handle)
        if status is not None and on_status is not None:
            on_status(status)

    result_task = await _until_closed(
        handle, tick=tick if on_status is not None else None, poll_seconds=poll_seconds, timeout=timeout
    )
    link = ui_link(ui_url, client.namespace, handle.id)
    try:
        result = result_task.result()
    except WorkflowFailureError as err:
        return await _failure_report(handle, err, link)
    return report_from_result(handle.id, handle.result_run_id, result, link)


async def query_gate_status(handle: WorkflowHandle[object, Any], *, timeout: float = 5.0) -> GateStatus | None:
    """The gate's own `gate_status` query (any workflow that uses the gate), or None when no worker answers."""
    try:
        status: GateStatus = await handle.query(
            QUERY_GATE_STATUS, result_type=GateStatus, rpc_timeout=timedelta(seconds=timeout)
        )
        return status
    except (RPCError, TimeoutError):
        return None


async def wait_for_pipeline_report(
    client: Client,
    handle: WorkflowHandle[object, PipelineResult],
    *,
    ui_url: str,
    mode: str,
    on_status: GateStatusCallback | None = None,
    poll_seconds: float = 1.0,
    timeout: float | None = None,
) -> RunReport:
    """Like `wait_for_report`, for a pipeline run: live progress from the gate's `gate_status` query."""

    async def tick() -> None:
        status = await query_gate_status(handle)
        if status is not None and on_status is not None:
            on_status(status)

    result_task = await _until_closed(
        handle, tick=tick if on_status is not None else None, poll_seconds=poll_seconds, timeout=timeout
    )
    link = ui_link(ui_url, client.namespace, handle.id)
    try:
        result = result_task.result()
    except WorkflowFailureError as err:
        status, error_type, message, details = _failure(err)
        partial = temporalio.converter.value_to_type(PipelineResult, details[0], []) if details else None
        known = partial.stages if partial else (await query_gate_status(handle) or _NO_GATE).stages
        return RunReport(
            workflow_id=handle.id,
            run_id=handle.result_run_id,
            mode=partial.mode.value if partial else mode,
            status=status,
            stages=known,
            ui_url=link,
            error_type=error_type,
            error=message,
            wall_seconds=seconds_between(partial.started_at, partial.finished_at) if partial else None,
            pipeline=partial.pipeline if partial else "",
            continued_after=partial.continued_after if partial else [],
        )
    return RunReport(
        workflow_id=handle.id,
        run_id=handle.result_run_id,
        mode=result.mode.value,
        status="completed",
        stages=result.stages,
        ui_url=link,
        wall_seconds=seconds_between(result.started_at, result.finished_at),
        pipeline=result.pipeline,
        continued_after=result.continued_after,
    )


def _failure(err: WorkflowFailureError) -> tuple[str, str, str, Sequence[Any]]:
    """(status, error type, message, details) of a failed run, by the error's type (never its text)."""
    cause = err.cause
    status, error_type, message = "failed", type(cause).__name__, str(cause)
    details: Sequence[Any] = ()
    if isinstance(cause, ApplicationError):
        error_type, message = cause.type or "ApplicationError", cause.message
        if error_type == "StageCancelled":
            status = "cancelled"
        if error_type == "StageTimedOut":
            status = "timed_out"
        details = cause.details
    elif isinstance(cause, CancelledError):
        status = "cancelled"
    elif isinstance(cause, TerminatedError):
        status = "terminated"
    elif isinstance(cause, TemporalTimeoutError):
        status = "timed_out"
    return status, error_type, message, details


async def _failure_report(handle: WorkflowHandle[object, RunResult], err: WorkflowFailureError, link: str) -> RunReport:
    status, error_type, message, details = _failure(err)
    partial = temporalio.converter.value_to_type(RunResult, details[0], []) if details else None
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
