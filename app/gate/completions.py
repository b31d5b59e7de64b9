"""What the gate's activities were completed with, read in workflow code: a payload from outside never fails a task.

The SDK decodes an activity's result into the type the workflow asked for before any workflow code runs, and a
result that does not fit fails that workflow task, and every one after it: a person's `temporal activity complete
--result '"done"'` on a waiting token-mode stage would wedge the run (no timeout, no status query) until someone
terminates it. So the gate asks for the raw payload (`RawValue`) and reads it here, the way the `advance_stage`
signal handler reads its payload (`rules.parse_advance`): what it can use advances the stage, what it cannot
becomes an `InvalidCallbackError` with the reason, and the gate fails the stage with it.

A token-mode completion is one of ([gate.md](../../docs/gate.md#the-workflow-contract) lists them for people):

- an object with `attempt` and `callback_at`: the callback server's `StageCompletion`, as before;
- none or `null`: the stage completed, with no result;
- an object with a `status`: the signal's object form (`status`, `result`, `error`, `callback_id`, `progress`,
  and `stage`, which must name this stage); `failed` and `cancelled` end the stage so, `progress` cannot (the
  completion has ended the activity) and fails it;
- any other JSON value: the stage completed with it as its result (an object as it is, anything else as
  `{"value": ...}`).

A payload that is not JSON (another SDK's binary or protobuf payload, bytes that do not parse) cannot be used.
The typed cases are converted by the SDK's own `value_to_type`, so what our own activities and callback server
send decodes exactly as it did when the SDK decoded it: histories replay to the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from temporalio.common import RawValue
from temporalio.converter import PayloadConverter, value_to_type

from app.errors import InvalidCallbackError
from app.gate import rules
from app.gate.types import CallbackStatus, StageAccepted, StageCallback, StageCheck, StageCompletion, StageKey

# What tells the callback server's completion apart from a hand-made one.
_COMPLETION_KEYS = frozenset({"attempt", "callback_at"})
_ACCEPTED_KEYS = frozenset({"attempt", "accepted_at"})
_JSON_SCALARS = (str, int, float, bool)
_SHOWN_CHARS = 80

T = TypeVar("T")


def decode(raw: Any, converter: PayloadConverter) -> Any:
    """The plain JSON value of an activity result the gate asked for as `RawValue` (None: no payload).

    Raises InvalidCallbackError when the payload is not JSON the gate can read.
    """
    if raw is None:
        return None
    if not isinstance(raw, RawValue):
        return raw  # already a value (a caller that decoded it)
    encoding = raw.payload.metadata.get("encoding", b"").decode("utf-8", errors="replace")[:40]
    try:
        value = converter.from_payload(raw.payload)
    except Exception as err:  # noqa: BLE001  # any decoding failure is the sender's; it must not fail the task
        raise InvalidCallbackError(
            f"a payload the gate cannot read (encoding {encoding!r}: {type(err).__name__})"
        ) from None
    if not _is_json(value):
        raise InvalidCallbackError(f"a payload that is not JSON (encoding {encoding!r}: {type(value).__name__})")
    return value


def read_completion(value: Any, *, stage: StageKey, received_at: str) -> StageCompletion | StageCallback:
    """Token mode: what the stage activity was completed with, as the callback server's completion or a hand-made one.

    A `StageCallback` is a hand-made completion (the gate records it as `manual`). Raises InvalidCallbackError
    when the gate cannot use it.
    """
    if isinstance(value, Mapping) and value.keys() >= _COMPLETION_KEYS:
        return _typed(StageCompletion, value, "the callback server's completion")
    if value is None:
        return StageCallback(stage=stage, received_at=received_at)
    if isinstance(value, Mapping) and "status" in value:
        return _signal_form(value, stage=stage, received_at=received_at)
    return StageCallback(stage=stage, result=as_result(value), received_at=received_at)


def read_accepted(value: Any, *, at: str) -> StageAccepted:
    """Signal/update mode: what the request activity returned (the interceptor's envelope, or a hand-made value)."""
    if isinstance(value, Mapping) and value.keys() >= _ACCEPTED_KEYS:
        return _typed(StageAccepted, value, "the stage activity's result")
    # Completed by hand (`temporal activity complete`): the service's answer is whatever was given.
    return StageAccepted(attempt=1, accepted_at=at, result=value)


def read_check(value: Any) -> StageCheck:
    """A reconcile activity's answer; InvalidCallbackError when it is not a `StageCheck`."""
    if not isinstance(value, Mapping):
        raise InvalidCallbackError(f"a reconcile answer must be a StageCheck object, got {describe(value)}")
    return _typed(StageCheck, value, "the reconcile answer")


def read_typed(cls: type[T], value: Any, what: str) -> T:
    """`value` as the dataclass `cls` (the SDK's own conversion); InvalidCallbackError naming `what` if it is not."""
    if not isinstance(value, Mapping):
        raise InvalidCallbackError(f"{what} must be an object, got {describe(value)}")
    return _typed(cls, value, what)


def as_result(value: Any) -> dict[str, Any] | None:
    """A JSON value as a stage result: an object as it is, anything else wrapped as `{"value": ...}`."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    return {"value": value}


def describe(value: Any) -> str:
    """A short text form of a value for an error message."""
    text = rules.describe_raw(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _signal_form(value: Mapping[str, Any], *, stage: StageKey, received_at: str) -> StageCallback:
    """An object with a `status`: read like the advance_stage signal's object form, for this stage only."""
    if "stage" in value and value["stage"] is not None:
        named = rules.parse_stage_key(value["stage"])
        if named != stage:
            raise InvalidCallbackError(f"it names stage {named!r}, but the completed activity is stage {stage!r}'s")
    callback = rules.parse_advance({**value, "stage": stage}, received_at=received_at)
    if callback.status is CallbackStatus.PROGRESS:
        raise InvalidCallbackError(
            "status 'progress' cannot be reported by completing the activity (that ends it): "
            "signal advance_stage with status 'progress' instead"
        )
    return callback


def _typed(cls: type[T], value: Mapping[str, Any], what: str) -> T:
    try:
        converted: T = value_to_type(cls, dict(value))
    except Exception as err:  # noqa: BLE001  # the SDK raises TypeError/ValueError/KeyError; all are the sender's
        raise InvalidCallbackError(f"{what} does not fit {cls.__name__}: {str(err)[:200]}") from None
    return converted


def _is_json(value: Any) -> bool:
    """Whether a decoded value is plain JSON (objects with string keys, arrays, scalars, null)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, _JSON_SCALARS):
            continue
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict) and all(isinstance(k, str) for k in item):
            stack.extend(item.values())
        else:
            return False
    return True
