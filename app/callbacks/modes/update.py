"""Update mode, callback side: a Workflow Update whose validator refuses stale, unknown or duplicate stages.

The sender gets a definitive answer: 200 when the gate took the callback, 409 for a duplicate or a stage
that has already ended, 404 for a stage the run does not have, 400 for a callback the gate cannot read,
503 when no worker took the update in time (retry). A refused update leaves no event in the history.
"""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError

from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.modes.spec import ModeSpec
from app.callbacks.wire import CallbackBody, to_stage_callback
from app.errors import (
    BadCallbackError,
    CallbackConflictError,
    TemporalUnavailableError,
    UnknownTargetError,
)
from app.gate.callback_urls import CallbackTarget
from app.gate.types import (
    ERR_DUPLICATE_CALLBACK,
    ERR_INVALID_CALLBACK,
    ERR_STALE_STAGE,
    ERR_UNKNOWN_STAGE,
    UPDATE_ADVANCE_STAGE,
    AdvanceAnswer,
    Mode,
)

MODE = Mode.UPDATE
SUMMARY = "Callback for an update-mode stage: sends the advance_stage update and answers with the gate's verdict"

# Validator refusal type -> (error type, error code); the type decides the HTTP status (app.errors.HTTP_STATUS).
REFUSALS = {
    ERR_DUPLICATE_CALLBACK: (CallbackConflictError, "duplicate_callback"),
    ERR_STALE_STAGE: (CallbackConflictError, "stale_stage"),
    ERR_UNKNOWN_STAGE: (UnknownTargetError, "unknown_stage"),
    ERR_INVALID_CALLBACK: (BadCallbackError, "invalid_callback"),
}


async def forward(temporal: Temporal, target: CallbackTarget, body: CallbackBody, *, received_at: str) -> Forwarded:
    """200 with the verdict once the workflow has taken the update; a refusal becomes its 4xx."""
    handle = temporal.client.get_workflow_handle(target.workflow_id)
    payload = to_stage_callback(target, body, received_at=received_at)
    try:
        answer = await temporal.call(
            handle.execute_update(
                UPDATE_ADVANCE_STAGE, payload, result_type=AdvanceAnswer, rpc_timeout=temporal.rpc_timeout
            ),
            target,
            what="workflow",
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSALS:
            kind, code = REFUSALS[cause.type]
            raise kind(cause.message, code=code) from err
        raise CallbackConflictError(f"the workflow refused the callback: {cause}", code="update_failed") from err
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        raise TemporalUnavailableError(
            f"the update was not taken within {temporal.timeout_seconds:g}s (no worker took it, or Temporal is "
            "slow); retry",
            code="no_worker",
        ) from err
    return Forwarded("update advance_stage", status_code=200, verdict=answer.verdict.value, early=answer.early)


SPEC = ModeSpec(MODE, SUMMARY, forward, accepted_status=200)
