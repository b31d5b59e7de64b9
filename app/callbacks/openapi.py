"""OpenAPI for the callback routes: every query parameter, the body, the body-signature headers, every answer.

Litestar documents what a handler declares. Ours read the query and the body themselves (exact bytes,
canonical forms only), so this module describes them, from the same limits and wire types the code enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from app.callbacks.signatures.standard_webhooks import MAX_SIGNATURES, MAX_TIMESTAMP_DIGITS, MAX_WEBHOOK_ID_CHARS
from app.callbacks.wire import CallbackBody, ErrorBody
from app.gate.callback_urls import MAX_WORKFLOW_ID_BYTES
from app.gate.rules import MAX_STAGE_NUMBER, STAGE_NAME
from app.runtime.config import SENDER_NAME

_DECIMAL = r"^(0|[1-9][0-9]*)$"
_KEYWORDS = {
    "title": "title",
    "description": "description",
    "enum": "enum",
    "default": "default",
    "maxLength": "max_length",
    "minLength": "min_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "pattern": "pattern",
    "required": "required",
}

# Every refusal the callback routes can give, by status (see the answer table in docs/callback-server.md).
_ERRORS: dict[int, str] = {
    400: "invalid_json, invalid_body, too_many_parameters, workflow_id_too_long, malformed_body_signature, "
    "invalid_callback, rejected_by_temporal: the input is wrong; the message says what",
    401: "missing_parameter, missing_body_signature: a signed parameter or a body-signature header is missing",
    403: "bad_signature (URL signature wrong or expired), bad_body_signature, stale_body_signature, unknown_sender",
    404: "workflow_not_found, unknown_stage (update mode)",
    409: "workflow_closed, activity_not_open, duplicate_callback, stale_stage, update_failed: "
    "it cannot be applied (again); do not retry",
    413: "body_too_large",
    500: "internal_error: a bug, never an input; logged with its traceback",
    502: "temporal_error: Temporal answered with an unexpected error",
    503: "temporal_unavailable, temporal_busy, workflow_not_ready, no_worker, workflow_task_failing: "
    "retry after `Retry-After` seconds",
}


def schema_from_json_schema(node: Mapping[str, Any]) -> Schema:
    """A Litestar Schema from the JSON Schema msgspec makes; an unknown keyword is an error, not silently lost."""
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            kwargs["properties"] = {name: schema_from_json_schema(sub) for name, sub in value.items()}
        elif key == "anyOf":
            kwargs["any_of"] = [schema_from_json_schema(sub) for sub in value]
        elif key == "type":
            kwargs["type"] = OpenAPIType(value)
        elif key in _KEYWORDS:
            kwargs[_KEYWORDS[key]] = value
        else:
            raise ValueError(f"JSON Schema keyword {key!r} has no mapping here")
    return Schema(**kwargs)


def callback_body_schema() -> Schema:
    """The callback body's schema, inline: Litestar rebuilds `components.schemas` from what handlers declare."""
    _, defs = msgspec.json.schema_components([CallbackBody])
    return schema_from_json_schema(defs["CallbackBody"])


def _query(name: str, description: str, schema: Schema, *, required: bool = True) -> Parameter:
    return Parameter(name=name, param_in="query", schema=schema, description=description, required=required)


def _header(name: str, description: str, schema: Schema) -> Parameter:
    return Parameter(name=name, param_in="header", schema=schema, description=description, required=False)


def parameters(*, carries_token: bool) -> list[Parameter]:
    """The signed query of a mode's callback URL and the optional Standard Webhooks headers."""
    stage = rf"^([1-9][0-9]{{0,{len(str(MAX_STAGE_NUMBER)) - 1}}}|{STAGE_NAME.pattern})$"
    found = [
        _query(
            "wf",
            f"workflow ID, at most {MAX_WORKFLOW_ID_BYTES} UTF-8 bytes",
            Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_WORKFLOW_ID_BYTES),
        ),
        _query("stage", "stage number or name, canonical form", Schema(type=OpenAPIType.STRING, pattern=stage)),
        _query("attempt", "activity attempt, plain decimal", Schema(type=OpenAPIType.STRING, pattern=_DECIMAL)),
        _query("exp", "expiry, Unix seconds, plain decimal", Schema(type=OpenAPIType.STRING, pattern=_DECIMAL)),
    ]
    if carries_token:
        # Either `run` + `act` (URLs since v8tok) or `token` (older URLs): none of the three is required alone.
        found += [
            _query(
                "run",
                "workflow run ID of the stage activity (since v8tok; with `act`, instead of `token`)",
                Schema(type=OpenAPIType.STRING, min_length=1),
                required=False,
            ),
            _query(
                "act",
                "activity ID of the stage activity: its current attempt is completed (since v8tok; with `run`)",
                Schema(type=OpenAPIType.STRING, min_length=1),
                required=False,
            ),
            _query(
                "token",
                "task token, URL-safe base64 without padding (URLs made before v8tok; instead of `run` + `act`)",
                Schema(type=OpenAPIType.STRING, pattern=r"^[A-Za-z0-9_-]+$"),
                required=False,
            ),
        ]
    found += [
        _query(
            "snd",
            "sender whose Standard Webhooks body signature this URL demands (signed; absent: none demanded)",
            Schema(type=OpenAPIType.STRING, pattern=f"^{SENDER_NAME.pattern}$"),
            required=False,
        ),
        _query(
            "sig",
            "HMAC-SHA256 of the parameters above, URL-safe base64 without padding",
            Schema(type=OpenAPIType.STRING, pattern=r"^[A-Za-z0-9_-]{43}$"),
        ),
        _header(
            "webhook-id",
            "body signature (required when the URL has `snd`): message ID, becomes the callback ID",
            Schema(type=OpenAPIType.STRING, pattern=rf"^[!-~]{{1,{MAX_WEBHOOK_ID_CHARS}}}$"),
        ),
        _header(
            "webhook-timestamp",
            "body signature: Unix seconds, within the tolerance window (5 minutes by default)",
            Schema(type=OpenAPIType.STRING, pattern=rf"^(0|[1-9][0-9]{{0,{MAX_TIMESTAMP_DIGITS - 1}}})$"),
        ),
        _header(
            "webhook-signature",
            f"body signature: up to {MAX_SIGNATURES} space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`",
            Schema(type=OpenAPIType.STRING),
        ),
    ]
    return found


def error_responses() -> dict[int, ResponseSpec]:
    """Every error status the callback routes answer with, all with the JSON error body."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)
        for status, description in _ERRORS.items()
    }


# The fixed endpoints' own refusals (`POST /hooks/{source}`), by status.
_HOOK_ERRORS: dict[int, str] = {
    400: "invalid_json, invalid_body, malformed_body_signature, no_correlation_key, no_event_id",
    401: "missing_body_signature: a header the source's signature scheme needs is missing",
    403: "bad_body_signature, stale_body_signature",
    404: "unknown_source: no such hook source is configured",
    413: "body_too_large",
    500: "internal_error: a bug, never an input; logged with its traceback",
    503: "temporal_unavailable, no_worker, mailbox_closing: the event was not taken; retry after Retry-After",
}


def hook_error_responses() -> dict[int, ResponseSpec]:
    """Every error status `POST /hooks/{source}` answers with, all with the JSON error body."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)
        for status, description in _HOOK_ERRORS.items()
    }


def operation_class(*, carries_token: bool) -> type[Operation]:
    """An Operation that adds the mode's parameters, the optional body and the 503's Retry-After header."""
    mode_parameters = parameters(carries_token=carries_token)
    body_schema = callback_body_schema()

    @dataclass
    class CallbackOperation(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*mode_parameters]
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=body_schema)},
                description="the callback; an empty body means completed",
                required=False,
            )
            busy = (self.responses or {}).get("503")
            if isinstance(busy, OpenAPIResponse):
                busy.headers = {
                    "Retry-After": OpenAPIHeader(
                        schema=Schema(type=OpenAPIType.INTEGER, minimum=1), description="seconds to wait", required=True
                    )
                }

    return CallbackOperation
