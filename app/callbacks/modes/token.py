"""Token mode, callback side: complete / fail / heartbeat / report cancellation of the activity the token names."""

from __future__ import annotations

import structlog
from temporalio.client import AsyncActivityHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.modes.spec import ModeSpec
from app.callbacks.wire import CallbackBody, to_stage_completion
from app.gate.callback_urls import CallbackTarget
from app.gate.types import ERR_SERVICE_REPORTED_CANCELLATION, ERR_SERVICE_REPORTED_FAILURE, Mode

MODE = Mode.TOKEN
SUMMARY = "Callback for a token-mode stage: completes the stage activity by its task token"
log = structlog.get_logger(__name__)


async def forward(temporal: Temporal, target: CallbackTarget, body: CallbackBody, *, received_at: str) -> Forwarded:
    """202 once Temporal took the completion, failure, heartbeat or cancellation."""
    assert target.task_token is not None  # verify_callback_params guarantees it in token mode
    handle = temporal.client.get_async_activity_handle(task_token=target.task_token)
    return await forward_to(temporal, handle, target, body, received_at=received_at)


async def forward_to(
    temporal: Temporal, handle: AsyncActivityHandle, target: CallbackTarget, body: CallbackBody, *, received_at: str
) -> Forwarded:
    """The same for an activity named otherwise (fixed endpoints complete it by workflow, run and activity ID)."""
    if body.status == "completed":
        completion = to_stage_completion(target, body, received_at=received_at)
        await temporal.call(handle.complete(completion, rpc_timeout=temporal.rpc_timeout), target, what="activity")
        return Forwarded("complete")
    if body.status == "progress":
        details = {"progress": body.progress, "result": body.result, "received_at": received_at}
        await temporal.call(handle.heartbeat(details, rpc_timeout=temporal.rpc_timeout), target, what="activity")
        return Forwarded("heartbeat")
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


SPEC = ModeSpec(MODE, SUMMARY, forward, carries_token=True)
