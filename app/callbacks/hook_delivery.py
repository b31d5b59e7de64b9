"""The hook mailbox's delivery activity: one fixed-endpoint event to its waiting stage, in the stage's own mode.

It reuses the callback server's mode forwarding exactly (`app/callbacks/modes/`), so an event reaches a stage
as a per-request callback would: signal `advance_stage` by workflow ID, the advance update with the gate's
verdict, or the open stage activity completed, failed, heartbeated or cancelled (by workflow, run and
activity ID: no task token is kept anywhere). A definitive refusal (stale, duplicate, closed) is a result,
not an error; Temporal being unreachable is an error, so the mailbox's retry policy tries again.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.modes import token
from app.callbacks.modes.registry import SPECS
from app.callbacks.wire import CallbackBody
from app.errors import CallbackRefusedError
from app.gate.callback_urls import CallbackTarget
from app.gate.hook_types import ACTIVITY_DELIVER_HOOK_EVENT, DeliveryResult, HookDelivery
from app.gate.types import Mode

# One Temporal call's budget inside the activity (the activity's own retries cover longer outages).
DELIVERY_TEMPORAL_TIMEOUT = 10.0
# Temporal unreachable, slow, or no worker took the update: worth another attempt.
RETRYABLE_STATUS = frozenset({502, 503})


@activity.defn(name=ACTIVITY_DELIVER_HOOK_EVENT)
async def deliver_hook_event(delivery: HookDelivery) -> DeliveryResult:
    """Hand one event to its stage the waiter's way; the Temporal call made and the stage's verdict."""
    temporal = Temporal(activity.client(), timeout_seconds=DELIVERY_TEMPORAL_TIMEOUT)
    waiter = delivery.waiter
    target = CallbackTarget(
        mode=waiter.mode, workflow_id=waiter.workflow_id, stage=waiter.stage, attempt=waiter.attempt, expires_at=0
    )
    body = CallbackBody(
        status=delivery.status.value,
        callback_id=delivery.callback_id,
        result=delivery.result,
        error=delivery.error,
        progress=delivery.progress,
    )
    try:
        forwarded: Forwarded
        if waiter.mode is Mode.TOKEN:
            handle = temporal.client.get_async_activity_handle(
                workflow_id=waiter.workflow_id, run_id=waiter.run_id, activity_id=waiter.activity_id or ""
            )
            forwarded = await token.forward_to(temporal, handle, target, body, received_at=delivery.received_at)
        else:
            forwarded = await SPECS[waiter.mode].forward(temporal, target, body, received_at=delivery.received_at)
    except CallbackRefusedError as err:
        if err.status_code in RETRYABLE_STATUS:
            raise ApplicationError(f"{err.code}: {err.message}", type="HookDeliveryUnavailable") from err
        activity.logger.info("hook event %s refused by stage %s: %s", delivery.callback_id, waiter.stage, err.code)
        return DeliveryResult(temporal_call="refused", verdict=err.code, status_code=err.status_code)
    return DeliveryResult(
        temporal_call=forwarded.temporal_call,
        verdict=forwarded.verdict or "accepted",
        status_code=forwarded.status_code,
    )
