"""Wait for how a staged run ended, or for a status, always with a timeout (scripts and tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from app.demo.payloads import QUERY_STATUS, RunResult, RunStatus


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: its result, or the ApplicationError type and message it failed with."""

    result: RunResult | None
    error_type: str | None = None
    error_message: str | None = None


async def wait_end(handle: WorkflowHandle[object, RunResult], *, timeout: float = 60.0) -> RunEnd:
    """Wait for the run to close; a failure becomes a RunEnd with its error type."""
    try:
        result = await asyncio.wait_for(handle.result(), timeout)
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return RunEnd(result=None, error_type=cause.type, error_message=cause.message)
        return RunEnd(result=None, error_type=type(cause).__name__, error_message=str(cause))
    return RunEnd(result=result)


async def wait_status(
    handle: WorkflowHandle[object, RunResult], ok: Callable[[RunStatus], bool], *, timeout: float = 20.0
) -> RunStatus:
    """Poll the `status` query until `ok` holds, at most `timeout` seconds (never forever)."""
    async with asyncio.timeout(timeout):
        while True:
            status: RunStatus = await handle.query(QUERY_STATUS, result_type=RunStatus)
            if ok(status):
                return status
            await asyncio.sleep(0.1)


async def wait_activity_started(handle: WorkflowHandle[object, RunResult], *, timeout: float = 30.0) -> str:
    """Wait until the run has a pending activity that a worker has started; its activity type."""
    async with asyncio.timeout(timeout):
        while True:
            description = await handle.describe()
            for pending in description.raw_description.pending_activities:
                if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                    return str(pending.activity_type.name)
            await asyncio.sleep(0.1)
