"""HTTP wire types of the callback server (msgspec) and their one conversion into Temporal payloads."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from app.callback_urls import CallbackTarget
from app.gate_types import CallbackStatus, StageCallback, StageCompletion


class CallbackBody(msgspec.Struct, forbid_unknown_fields=False):
    """What the external service POSTs to a callback URL (an empty body means "completed")."""

    status: Literal["completed", "failed", "cancelled", "progress"] = "completed"
    callback_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    progress: int = 0
    sent_at: str | None = None


class Accepted(msgspec.Struct):
    """2xx answer: the callback was handed to Temporal (update mode: and the gate took it, `verdict`)."""

    accepted: bool
    mode: str
    workflow_id: str
    stage: int | str
    status: str
    temporal_call: str
    verdict: str | None = None
    early: bool = False


class ErrorBody(msgspec.Struct):
    """Every 4xx/5xx answer: a stable machine code and a sentence for people."""

    error: str
    message: str
    status_code: int


def decode_callback_body(raw: bytes) -> CallbackBody:
    """Parse a callback body; an empty body means "completed" (the minimal callback)."""
    if not raw.strip():
        return CallbackBody()
    return msgspec.json.decode(raw, type=CallbackBody)


def to_stage_callback(target: CallbackTarget, body: CallbackBody, *, received_at: str) -> StageCallback:
    """The advance_stage payload (signal and update mode)."""
    return StageCallback(
        stage=target.stage,
        status=CallbackStatus(body.status),
        result=body.result,
        error=body.error,
        callback_id=body.callback_id,
        progress=body.progress,
        received_at=received_at,
    )


def to_stage_completion(target: CallbackTarget, body: CallbackBody, *, received_at: str) -> StageCompletion:
    """The value a token-mode activity is completed with."""
    return StageCompletion(
        attempt=target.attempt,
        callback_at=received_at,
        callback_id=body.callback_id,
        progress=body.progress,
        result=body.result,
    )
