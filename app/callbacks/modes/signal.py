"""Signal mode, callback side: send `advance_stage` to the workflow by its ID (its latest run, continue-as-new too)."""

from __future__ import annotations

from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.modes.spec import ModeSpec
from app.callbacks.wire import CallbackBody, to_stage_callback
from app.gate.callback_urls import CallbackTarget
from app.gate.types import SIGNAL_ADVANCE_STAGE, Mode

MODE = Mode.SIGNAL
SUMMARY = "Callback for a signal-mode stage: sends the advance_stage signal by workflow ID"


async def forward(temporal: Temporal, target: CallbackTarget, body: CallbackBody, *, received_at: str) -> Forwarded:
    """202 once Temporal has recorded the signal; the workflow's gate dedupes and orders it."""
    handle = temporal.client.get_workflow_handle(target.workflow_id)
    payload = to_stage_callback(target, body, received_at=received_at)
    await temporal.call(
        handle.signal(SIGNAL_ADVANCE_STAGE, payload, rpc_timeout=temporal.rpc_timeout), target, what="workflow"
    )
    return Forwarded("signal advance_stage")


SPEC = ModeSpec(MODE, SUMMARY, forward)
