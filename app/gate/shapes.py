"""Callback shapes: how a service that does not speak stagegate's body reports back, and how to read it.

    REPLICATE = CallbackShape(
        outcome="status",                                   # a dotted path in a JSON body (or a form field)
        completed=["succeeded"], failed=["failed"], cancelled=["canceled"], progress=["starting", "processing"],
        result="output", error="error",                     # paths; no `result`: the whole body is the result
    )
    await gate.call_and_wait(start_prediction, req, stage="predict", timeout=600, callback=REPLICATE)

A stage without a shape takes stagegate's own body (`{"status", "callback_id", "result", "error"}`), exactly as
before shapes existed. A shape travels, signed, inside the stage's callback URL (`encode_shape`): the callback
server reads a callback with it in every mode, so a value no rule maps is answered with a 4xx at once, and
what reaches the workflow is the same advance_stage payload (or token-mode completion) as for our own body.

A shape that cannot work (a path into a form body, a value mapped twice, no completed value) raises
ShapeError when it is made. Standard library only: safe inside the workflow sandbox.
"""

# No `from __future__ import annotations`: these dataclasses cross Temporal boundaries (see app/gate/types.py).
import base64
import binascii
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from app.errors import BadCallbackError, ShapeError, UnmappedOutcomeError
from app.gate import paths

# What the shape travels as must keep callback URLs short enough for every service's URL field.
MAX_ENCODED_CHARS = 1024
MAX_VALUES = 32
MAX_VALUE_CHARS = 100
MAX_ERROR_CHARS = 2000
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z\-]{1,64}")


class Meaning(StrEnum):
    """What an outcome value means to the stage (the first four are `CallbackStatus` values)."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PROGRESS = "progress"
    IGNORE = "ignore"  # answered 202, counted, never forwarded (e.g. an event type the stage does not wait for)


class BodyFormat(StrEnum):
    """How the service encodes its callback body."""

    JSON = "json"
    FORM = "form"  # application/x-www-form-urlencoded: flat fields, no paths


@dataclass(frozen=True)
class CallbackShape:
    """Where a service's callback says how the work went, and which of its values mean what.

    Exactly one of `outcome` (a dotted path in a JSON body, a field name in a form body) and `outcome_header`
    (a header name). Values are compared as text (`true`, `3` for JSON booleans and numbers). `result`,
    `error` and `event_id` are paths (JSON) or field names (form); `event_id_header` a header. With no event
    ID, the body's own bytes dedupe: the same body twice never advances twice.
    """

    outcome: str | None = None
    outcome_header: str | None = None
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    body: BodyFormat = BodyFormat.JSON
    # Path of the result; None: the whole body. An object is the result; any other value becomes {"value": it}.
    result: str | None = None
    error: str | None = None
    event_id: str | None = None
    event_id_header: str | None = None

    def __post_init__(self) -> None:
        problem = shape_problem(self)
        if problem is not None:
            raise ShapeError(f"callback shape: {problem}")
        encoded = encode_shape(self)
        if len(encoded) > MAX_ENCODED_CHARS:
            raise ShapeError(
                f"callback shape: {len(encoded)} characters once encoded; at most {MAX_ENCODED_CHARS} fit in a "
                "callback URL (map fewer values, or shorter ones)"
            )

    @property
    def outcome_field(self) -> str:
        """The outcome's place, as messages name it."""
        return f"header {self.outcome_header}" if self.outcome_header else str(self.outcome)

    def meaning_of(self, value: str) -> Meaning | None:
        """What a value of the outcome field means (None: no rule maps it)."""
        for meaning in Meaning:
            if value in getattr(self, meaning.value):
                return meaning
        return None

    def accepted(self) -> list[str]:
        """Every value some rule maps, sorted."""
        return sorted(v for meaning in Meaning for v in getattr(self, meaning.value))


def shape_problem(shape: CallbackShape) -> str | None:
    """Why this shape cannot work, or None."""
    if not isinstance(shape.body, BodyFormat):
        return f"body must be one of {', '.join(b.value for b in BodyFormat)}"
    if (shape.outcome is None) == (shape.outcome_header is None):
        return "give exactly one of outcome (a body path or form field) and outcome_header"
    if shape.event_id is not None and shape.event_id_header is not None:
        return "give at most one of event_id and event_id_header"
    return _places_problem(shape) or _values_problem(shape)


def _places_problem(shape: CallbackShape) -> str | None:
    form = shape.body is BodyFormat.FORM
    for name in ("outcome", "result", "error", "event_id"):
        value = getattr(shape, name)
        if value is None:
            continue
        if not isinstance(value, str) or not paths.is_path(value):
            return f"{name}: {value!r} is not a dotted path (e.g. 'status', 'data.id', 'items.0.id')"
        if form and "." in value:
            return f"{name}: {value!r} is a path, but a form body has only flat fields (name one field)"
    for name in ("outcome_header", "event_id_header"):
        value = getattr(shape, name)
        if value is not None and (not isinstance(value, str) or not _HEADER_NAME.fullmatch(value)):
            return f"{name}: {value!r} is not a header name"
    return None


def _values_problem(shape: CallbackShape) -> str | None:
    seen: dict[str, str] = {}
    for meaning in Meaning:
        values = getattr(shape, meaning.value)
        if not isinstance(values, list):
            return f"{meaning.value}: must be a list of values"
        for value in values:
            if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
                return f"{meaning.value}: {value!r} is not text of at most {MAX_VALUE_CHARS} characters"
            if value in seen:
                return f"value {value!r} is mapped twice: to {seen[value]} and to {meaning.value}"
            seen[value] = meaning.value
    if not shape.completed:
        return "no value means completed: map at least one (completed: [...])"
    if len(seen) > MAX_VALUES:
        return f"{len(seen)} values mapped; at most {MAX_VALUES}"
    return None


# --- the shape inside a callback URL ------------------------------------------------------------------------

_FIELDS = tuple(f.name for f in fields(CallbackShape))


def encode_shape(shape: CallbackShape) -> str:
    """The shape as URL-safe text: compact JSON of the fields that differ from their defaults, base64url."""
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(shape, name)
        if value is None or value == [] or (name == "body" and value is BodyFormat.JSON):
            continue
        data[name] = value.value if isinstance(value, BodyFormat) else value
    text = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=1024)
def decode_shape(text: str) -> CallbackShape:
    """Inverse of `encode_shape` (cached: a stage's callbacks all carry the same text); ShapeError if it is not one."""
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ShapeError("not an encoded callback shape") from exc
    if not isinstance(data, dict) or not set(data) <= set(_FIELDS):
        raise ShapeError("not an encoded callback shape")
    try:
        if "body" in data:
            data["body"] = BodyFormat(data["body"])
        return CallbackShape(**data)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"not an encoded callback shape: {exc}") from exc


# --- reading a callback with a shape ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What a shape read from one callback."""

    meaning: Meaning
    value: str  # the outcome value as sent
    result: dict[str, Any] | None = None
    error: str | None = None
    event_id: str | None = None


def read(shape: CallbackShape, body: Any, headers: Mapping[str, str]) -> Reading:
    """Read a decoded body (a JSON value, or a form's fields) and the headers (lower-case names) with `shape`.

    Raises UnmappedOutcomeError for a value no rule maps (naming the field, the value and the accepted ones),
    BadCallbackError when the outcome is missing or not a plain value.
    """
    if shape.outcome_header is not None:
        raw = headers.get(shape.outcome_header.lower())
        if raw is None:
            raise BadCallbackError(f"the callback has no {shape.outcome_header} header", code="missing_outcome")
    else:
        raw = _at(body, shape.outcome or "", required=True)
    if isinstance(raw, dict | list):
        raise BadCallbackError(f"{shape.outcome_field} is {paths.kind(raw)}, not a value", code="missing_outcome")
    value = as_text(raw)
    meaning = shape.meaning_of(value)
    if meaning is None:
        accepted = shape.accepted()
        raise UnmappedOutcomeError(
            f"{shape.outcome_field} is {value[:MAX_VALUE_CHARS]!r}, which this stage's callback shape does not map; "
            f"accepted: {', '.join(accepted)}",
            field=shape.outcome_field,
            value=value[:MAX_VALUE_CHARS],
            accepted=accepted,
        )
    whole = body if shape.result is None else _at(body, shape.result)
    error = _at(body, shape.error) if shape.error is not None else None
    if shape.event_id_header is not None:
        event_id: Any = headers.get(shape.event_id_header.lower())
    else:
        event_id = _at(body, shape.event_id) if shape.event_id is not None else None
    return Reading(
        meaning=meaning,
        value=value,
        result=as_result(whole),
        error=None if error is None else as_text(error)[:MAX_ERROR_CHARS],
        event_id=None if event_id is None or event_id == "" else as_text(event_id),
    )


def _at(body: Any, path: str, *, required: bool = False) -> Any:
    """The value at `path`; None when it is not there (BadCallbackError instead when `required`)."""
    try:
        return paths.lookup(body, paths.split(path), "the body")
    except ValueError as exc:
        if required:
            raise BadCallbackError(f"the callback's outcome is missing: {exc}", code="missing_outcome") from None
        return None


def as_text(value: Any) -> str:
    """A value as text: strings as they are, anything else as compact JSON (`true`, `3`, `null`)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def as_result(value: Any) -> dict[str, Any] | None:
    """A stage result is an object: objects as they are, None as None, anything else as {"value": it}."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    return {"value": value}


# --- notify, then fetch ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchSpec:
    """After a completed callback, GET `url` and take the stage's outcome, result and error from the answer.

    `url` and `headers` are templates filled in inside the fetch activity (`app.pipeline.fetch`), where the
    worker's environment is: `${answer_id}` (what the stage activity returned; signal and update mode),
    `${callback}` / `${callback.PATH}` (the callback's result: with a shape and no result path, its whole
    body), `${env.NAME}`, `${workflow_id}`, `${stage}`, `${idempotency_key}`. `answer` reads the answer
    (a JSON body); a value it maps to progress or ignore means "not finished yet": the GET is retried inside
    the stage's time. No `answer`: any 2xx answer is the result.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    answer: CallbackShape | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://", "${")):
            raise ShapeError(f"fetch: url {self.url!r} is not an http(s) URL (or a template starting with ${{...}})")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()):
            raise ShapeError("fetch: headers must map names to text")
        if self.answer is not None and self.answer.body is not BodyFormat.JSON:
            raise ShapeError("fetch: the answer to a GET is read as JSON (answer.body must be json)")


@dataclass(frozen=True)
class FetchContext:
    """Pipeline runs: the run's input and the earlier stages' outputs, for `${input...}` and `${stages...}`."""

    input: dict[str, Any] = field(default_factory=dict)
    earlier: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchCall:
    """Input of the fetch activity: the spec and what its templates may refer to."""

    fetch: FetchSpec
    stage: str
    workflow_id: str
    idempotency_key: str
    answer_id: Any = None
    callback: dict[str, Any] | None = None
    context: FetchContext | None = None


@dataclass(frozen=True)
class FetchResult:
    """What the fetched answer says: completed, failed or cancelled (never progress: that is retried)."""

    meaning: Meaning
    result: dict[str, Any] | None = None
    error: str | None = None
