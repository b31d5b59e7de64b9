"""Foreign callback bodies: decode a service's own JSON or form body and read it with the stage's shape.

What comes out is the callback server's own `CallbackBody`, so every mode forwards it exactly as it forwards
stagegate's body: same payloads, same dedupe, early and stale rules. `None` means the shape says "ignore".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from app.callbacks.wire import MAX_CALLBACK_ID_CHARS, CallbackBody, check_result
from app.errors import BadCallbackError
from app.gate.shapes import BodyFormat, CallbackShape, Meaning, read

# A form body with more fields than this is not a status callback.
MAX_FORM_FIELDS = 1000
_BODY_ID = "sha256:"


def decode_foreign_body(
    raw: bytes, shape: CallbackShape, raw_headers: Iterable[tuple[bytes, bytes]], *, max_result_bytes: int
) -> CallbackBody | None:
    """The callback as stagegate's own body, or None when the shape maps its outcome to `ignore`.

    Raises BadCallbackError (400) for bytes that are not the shape's format, an outcome that is missing or
    unmapped (`UnmappedOutcomeError`, naming the field, the value and the accepted values), or a result over
    the limits of our own body's `result`. Without an event ID, the body's own digest is the callback ID: a
    delivery repeated byte for byte never advances twice.
    """
    body = decode_body(raw, shape.body)
    wanted = {name.lower() for name in (shape.outcome_header, shape.event_id_header) if name is not None}
    headers = _headers(raw_headers, wanted) if wanted else {}
    reading = read(shape, body, headers)
    if reading.meaning is Meaning.IGNORE:
        return None
    if reading.result is not None:
        try:
            check_result(reading.result, max_result_bytes)
        except msgspec.ValidationError as err:
            raise BadCallbackError(f"callback body is invalid: {err}", code="invalid_body") from err
    return CallbackBody(
        status=reading.meaning.value,  # type: ignore[arg-type]  # the four non-ignore meanings are its literals
        callback_id=_callback_id(reading.event_id, raw),
        result=reading.result,
        error=reading.error,
    )


def decode_body(raw: bytes, body_format: BodyFormat) -> Any:
    """A JSON value, or a form's fields (a repeated field as the list of its values); else 400."""
    if body_format is BodyFormat.FORM:
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except UnicodeDecodeError:
            raise BadCallbackError("callback body is not UTF-8 form data", code="invalid_form") from None
        except ValueError as err:
            raise BadCallbackError(f"callback body is not form data: {err}", code="invalid_form") from None
        fields: dict[str, Any] = {}
        for name, value in pairs:
            # A repeated field keeps every value (a list); as an outcome it is refused as "not a value".
            if name in fields:
                previous = fields[name]
                fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                fields[name] = value
        return fields
    try:
        return msgspec.json.decode(raw)
    except UnicodeDecodeError as err:
        message = "callback body is not valid JSON: a string is not valid UTF-8"
        raise BadCallbackError(message, code="invalid_json") from err
    except RecursionError as err:
        raise BadCallbackError("callback body is nested too deeply", code="invalid_body") from err
    except msgspec.DecodeError as err:
        raise BadCallbackError(f"callback body is not valid JSON: {err}", code="invalid_json") from err


def _headers(raw_headers: Iterable[tuple[bytes, bytes]], wanted: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name not in wanted:
            continue
        if name in found:
            raise BadCallbackError(f"header {name!r} is repeated", code="invalid_header")
        found[name] = raw_value.decode("latin-1")
    return found


def _callback_id(event_id: str | None, raw: bytes) -> str:
    if event_id is not None and len(event_id) <= MAX_CALLBACK_ID_CHARS:
        return event_id
    # No event ID (or one too long to keep): the digest of what was sent stands in for it.
    return _BODY_ID + hashlib.sha256(raw if event_id is None else event_id.encode()).hexdigest()
