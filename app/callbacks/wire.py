"""HTTP wire types of the callback server (msgspec) and their one conversion into Temporal payloads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from app.gate.callback_urls import CallbackTarget
from app.gate.types import CallbackStatus, StageCallback, StageCompletion

# Limits on what a callback body may carry into workflow history (see docs/callback-server.md, Limits).
MAX_RESULT_DEPTH = 32  # `{"a": 1}` is 1 level deep
MAX_CALLBACK_ID_CHARS = 255
MAX_PROGRESS = 2**31 - 1
_INT64 = range(-(2**63), 2**63)


class CallbackBody(msgspec.Struct, forbid_unknown_fields=False):
    """What the external service POSTs to a callback URL (an empty body means "completed")."""

    status: Literal["completed", "failed", "cancelled", "progress"] = "completed"
    callback_id: Annotated[str, msgspec.Meta(max_length=MAX_CALLBACK_ID_CHARS)] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    progress: Annotated[int, msgspec.Meta(ge=0, le=MAX_PROGRESS)] = 0
    sent_at: Annotated[str, msgspec.Meta(max_length=64)] | None = None


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


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every 4xx/5xx answer: a stable machine code and a sentence for people."""

    error: str
    message: str
    status_code: int
    # `unmapped_outcome` only: the field, the value sent, and the values the stage's callback shape maps.
    field: str | None = None
    value: str | None = None
    accepted: list[str] | None = None


def decode_callback_body(raw: bytes, *, max_result_bytes: int) -> CallbackBody:
    """Parse a callback body; an empty body means "completed" (the minimal callback).

    Raises msgspec.DecodeError for bytes that are not JSON (or not UTF-8), msgspec.ValidationError for JSON
    that is not a callback or breaks a limit: `result` deeper than MAX_RESULT_DEPTH, holding an integer that
    does not fit in 64 bits, or longer than `max_result_bytes` as compact JSON.
    """
    if not raw.strip():
        return CallbackBody()
    try:
        body = msgspec.json.decode(raw, type=CallbackBody)
    except UnicodeDecodeError as err:
        # msgspec checks UTF-8 only when it builds a str, and lets Python's error out: make it a DecodeError.
        raise msgspec.DecodeError("JSON is malformed: a string is not valid UTF-8") from err
    except RecursionError as err:
        # Only `result` can nest; thousands of levels exhaust the stack before our own depth check could run.
        raise _too_deep() from err
    if body.result is not None:
        check_result(body.result, max_result_bytes)
    return body


def _too_deep() -> msgspec.ValidationError:
    return msgspec.ValidationError(f"`result` is nested more than {MAX_RESULT_DEPTH} levels deep - at `$.result`")


def check_result(result: dict[str, Any], max_bytes: int) -> None:
    """Depth and integers, walked without recursion, then the encoded size (ValidationError past a limit)."""
    todo: list[tuple[Any, int]] = [(result, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            if depth > MAX_RESULT_DEPTH:
                raise _too_deep()
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            raise msgspec.ValidationError("integers in `result` must fit in 64 bits - at `$.result`")
    size = len(msgspec.json.encode(result))
    if size > max_bytes:
        raise msgspec.ValidationError(
            f"`result` is {size} bytes as compact JSON; at most {max_bytes} bytes are accepted - at `$.result`"
        )


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
