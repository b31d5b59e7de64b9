"""Token mode, callback side: complete / fail / heartbeat / report cancellation of the activity the URL names.

URLs since v8tok name the activity by workflow ID, run ID and activity ID: Temporal then completes the activity's
CURRENT attempt, so the URL a service got from attempt 1 still works after the activity was retried. Older URLs
carry one attempt's task token and complete by it, as before, until their runs end.

Before an outcome is handed over, a heartbeat asks Temporal whether the activity is still open and wanted: a
cancelled one (the gate gave up on it and made its request again) answers 409 `activity_cancelled`, a closed or
absent one 409 `activity_not_open`, so the sender is never told 202 for a callback no workflow will read.
"""

from __future__ import annotations

import structlog
from temporalio.client import AsyncActivityCancelledError, AsyncActivityHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.modes.spec import ModeSpec
from app.callbacks.wire import CallbackBody, to_stage_completion
from app.errors import CallbackConflictError
from app.gate.callback_urls import CallbackTarget
from app.gate.types import ERR_SERVICE_REPORTED_CANCELLATION, ERR_SERVICE_REPORTED_FAILURE, Mode

MODE = Mode.TOKEN
SUMMARY = "Callback for a token-mode stage: completes the stage activity (by its IDs, or an older URL's task token)"
log = structlog.get_logger(__name__)


async def forward(temporal: Temporal, target: CallbackTarget, body: CallbackBody, *, received_at: str) -> Forwarded:
    """202 once Temporal took the completion, failure, heartbeat or cancellation."""
    return await forward_to(temporal, activity_handle(temporal, target), target, body, received_at=received_at)


async def forward_to(
    temporal: Temporal, handle: AsyncActivityHandle, target: CallbackTarget, body: CallbackBody, *, received_at: str
) -> Forwarded:
    """The same for an activity named otherwise (fixed endpoints complete it by workflow, run and activity ID)."""
    if body.status == "progress":
        # The heartbeat is the check itself.
        details = {"progress": body.progress, "result": body.result, "received_at": received_at}
        await _heartbeat(temporal, handle, target, details)
        return Forwarded("heartbeat")
    if body.status in ("completed", "failed"):
        # Still open, and still wanted? (else 409). A cancellation report needs no check: it is the answer to one.
        await _heartbeat(temporal, handle, target, None)
    if body.status == "completed":
        completion = to_stage_completion(target, body, received_at=received_at)
        await temporal.call(handle.complete(completion, rpc_timeout=temporal.rpc_timeout), target, what="activity")
        return Forwarded("complete")
    if body.status == "failed":
        error = ApplicationError(
            body.error or f"service reported stage {target.stage!r} failed",
            type=ERR_SERVICE_REPORTED_FAILURE,
            non_retryable=True,
        )
        await temporal.call(handle.fail(error, rpc_timeout=temporal.rpc_timeout), target, what="activity")
        return Forwarded("fail")

    async def report_cancellation() -> bool:
        try:
            await handle.report_cancellation(rpc_timeout=temporal.rpc_timeout)
        except RPCError as err:
            # The server only takes a cancellation report for an activity whose cancellation was requested.
            # The service cancelling on its own is a business outcome: fail the activity with a typed,
            # non-retryable error that the gate maps to "cancelled", exactly as in signal mode.
            if err.status not in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION):
                raise
            log.info("cancellation report refused by Temporal, failing as cancelled", reason=err.message)
            return False
        return True

    if await temporal.call(report_cancellation(), target, what="activity"):
        return Forwarded("report_cancellation")
    error = ApplicationError(
        body.error or f"service cancelled stage {target.stage!r}",
        type=ERR_SERVICE_REPORTED_CANCELLATION,
        non_retryable=True,
    )
    await temporal.call(handle.fail(error, rpc_timeout=temporal.rpc_timeout), target, what="activity")
    return Forwarded("fail as cancelled")


def activity_handle(temporal: Temporal, target: CallbackTarget) -> AsyncActivityHandle:
    """The activity the URL names: by IDs (its current attempt), or by an older URL's task token."""
    if target.task_token is not None:
        return temporal.client.get_async_activity_handle(task_token=target.task_token)
    # verify_callback_params guarantees one of the two forms in token mode
    assert target.run_id is not None
    assert target.activity_id is not None
    return temporal.client.get_async_activity_handle(
        workflow_id=target.workflow_id, run_id=target.run_id, activity_id=target.activity_id
    )


async def _heartbeat(temporal: Temporal, handle: AsyncActivityHandle, target: CallbackTarget, details: object) -> None:
    """Heartbeat the activity; 409 when Temporal says its cancellation was requested (or it is not open)."""
    beat = handle.heartbeat(*(() if details is None else (details,)), rpc_timeout=temporal.rpc_timeout)
    try:
        await temporal.call(beat, target, what="activity")
    except AsyncActivityCancelledError as err:
        # Paused or reset by an operator: the activity is still the stage's; only a requested cancellation means
        # the gate has stopped waiting for it (it made the request again, or the run is being cancelled).
        if err.details is not None and not err.details.cancel_requested:
            return
        raise CallbackConflictError(
            f"the stage {target.stage!r} activity was cancelled (its gate no longer waits for it); a newer "
            "request carries the callback URL to use",
            code="activity_cancelled",
        ) from None


SPEC = ModeSpec(MODE, SUMMARY, forward, carries_token=True)
