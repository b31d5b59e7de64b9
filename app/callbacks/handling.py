"""One callback, from its signed URL to its answer, whichever HTTP layer carries it.

Two layers do: Litestar's routes (which also document the callbacks in OpenAPI) and the bare ASGI fast path
(`app/callbacks/fast_path.py`) that serves the three callback POSTs in front of Litestar. Both hand the request's
query, headers and body here and answer with what comes back, refusals included, so the JSON answers, status
codes, metrics and log lines are decided in this one place.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import structlog

from app.callbacks.body_check import BodyCheck, check_body_signature
from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.metrics import CallbackMetrics
from app.callbacks.modes.spec import ModeSpec
from app.callbacks.shapes import decode_foreign_body
from app.callbacks.tracing import annotate_request_span
from app.callbacks.wire import Accepted, CallbackBody, ErrorBody, decode_callback_body
from app.errors import BadCallbackError, CallbackRefusedError, UnmappedOutcomeError
from app.gate.callback_urls import CallbackTarget, verify_callback_params
from app.runtime.config import Settings

log = structlog.get_logger("app.callbacks.server")
# The `temporal_call` of an event the stage's shape ignores (answered, counted, never forwarded).
IGNORED_CALL = "none (ignored)"
# Error codes of the HTTP layer's own refusals (a body over the limit, a client gone mid-body).
HTTP_ERROR_CODES = {413: "body_too_large", 404: "not_found", 405: "method_not_allowed"}
TOO_LARGE_MESSAGE = "callback body is larger than the server accepts"
UNEXPECTED_MESSAGE = "the callback server hit an unexpected error; it has been logged"

Headers = Iterable[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Answer:
    """A callback taken: the status (200 or 202) and the JSON body."""

    status_code: int
    body: Accepted


@dataclass(frozen=True)
class Refusal:
    """A callback refused: the status, the JSON error body and any extra header (`Retry-After` on a 503)."""

    status_code: int
    body: ErrorBody
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class CallbackHandling:
    """What a callback needs from the server: settings, the body-signature keys, metrics, the Temporal wrapper.

    `temporal` is looked up per callback: the server's own client is made in the lifespan, after this exists.
    """

    settings: Settings
    body_check: BodyCheck
    metrics: CallbackMetrics
    temporal: Callable[[], Temporal]

    async def take(
        self,
        spec: ModeSpec,
        query: Iterable[tuple[str, str]],
        headers: Headers,
        read_body: Callable[[], Awaitable[bytes]],
    ) -> Answer:
        """Verify the signed URL, read the body, hand it to the mode's forwarding; raises what it refuses."""
        target = self._verified(spec, query)
        body = await self._body(target, headers, await read_body())
        if body is None:
            return self._ignored(spec, target)
        with self.metrics.forwarding(spec.mode.value):
            forwarded: Forwarded = await spec.forward(self.temporal(), target, body, received_at=_utc_now())
        self.metrics.accepted(spec.path, status_code=forwarded.status_code, temporal_call=forwarded.temporal_call)
        log.info(
            "callback forwarded",
            status=body.status,
            callback_id=body.callback_id,
            temporal_call=forwarded.temporal_call,
            verdict=forwarded.verdict,
        )
        answer = Accepted(
            True,
            spec.mode.value,
            target.workflow_id,
            target.stage,
            body.status,
            forwarded.temporal_call,
            verdict=forwarded.verdict,
            early=forwarded.early,
        )
        return Answer(forwarded.status_code, answer)

    def refused(self, path: str, err: CallbackRefusedError) -> Refusal:
        """A refused callback: its type's status (app.errors.HTTP_STATUS); every 503 says when to retry."""
        log.warning("callback rejected", status_code=err.status_code, error=err.code, reason=err.message)
        self.metrics.refused(path, status_code=err.status_code, reason=err.reason)
        retry_after = {"Retry-After": str(self.settings.callback_retry_after_seconds)}
        return Refusal(err.status_code, error_body(err), retry_after if err.status_code == 503 else None)

    def http_error(self, path: str, status_code: int, detail: str) -> Refusal:
        """A refusal of the HTTP layer (Litestar's HTTPException, or the fast path's own for the same cases)."""
        code = HTTP_ERROR_CODES.get(status_code, "bad_request")
        self.metrics.refused(path, status_code=status_code, reason=code)
        message = TOO_LARGE_MESSAGE if status_code == 413 else detail
        return Refusal(status_code, ErrorBody(code, message, status_code))

    def unexpected(self, method: str, path: str, err: Exception) -> Refusal:
        """A bug (no input is meant to get here): logged with its traceback, answered with the usual JSON error."""
        log.error(
            "unexpected error in the callback server",
            method=method,
            path=path,
            error_type=type(err).__name__,
            exc_info=err,
        )
        self.metrics.refused(path, status_code=500, reason="internal_error")
        return Refusal(500, ErrorBody("internal_error", UNEXPECTED_MESSAGE, 500))

    def _verified(self, spec: ModeSpec, query: Iterable[tuple[str, str]]) -> CallbackTarget:
        target = verify_callback_params(spec.mode, query, self.settings.signing_secrets, now=time.time())
        structlog.contextvars.bind_contextvars(
            workflow_id=target.workflow_id, stage=str(target.stage), mode=spec.mode.value, attempt=target.attempt
        )
        annotate_request_span(target)
        return target

    async def _body(self, target: CallbackTarget, headers: Headers, raw: bytes) -> CallbackBody | None:
        """The callback as our own body; None when the stage's callback shape says to ignore it."""
        # Before parsing: a tampered or replayed body is refused as such, whatever it holds.
        signed = check_body_signature(self.body_check, target, headers, raw)
        max_result_bytes = self.settings.callback_max_result_bytes
        if target.shape is not None:  # the service's own body, read with the shape the signed URL carries
            shaped = decode_foreign_body(raw, target.shape, headers, max_result_bytes=max_result_bytes)
            if shaped is None:
                return None
            body = shaped
        else:
            try:
                body = decode_callback_body(raw, max_result_bytes=max_result_bytes)
            except msgspec.ValidationError as err:
                raise BadCallbackError(f"callback body is invalid: {err}", code="invalid_body") from err
            except msgspec.DecodeError as err:
                raise BadCallbackError(f"callback body is not valid JSON: {err}", code="invalid_json") from err
        # A signed body's webhook-id is the dedupe key: the sender keeps it across retries, and it is signed.
        if signed is None or signed.webhook_id is None:
            return body
        return msgspec.structs.replace(body, callback_id=signed.webhook_id)

    def _ignored(self, spec: ModeSpec, target: CallbackTarget) -> Answer:
        """An event the stage's callback shape maps to `ignore`: taken (so the sender stops), counted, not forwarded."""
        self.metrics.accepted(spec.path, status_code=202, temporal_call=IGNORED_CALL)
        log.info("callback ignored by the stage's callback shape")
        answer = Accepted(
            True, spec.mode.value, target.workflow_id, target.stage, "ignored", IGNORED_CALL, verdict="ignored"
        )
        return Answer(202, answer)


def error_body(err: CallbackRefusedError) -> ErrorBody:
    """The JSON body of a refusal."""
    body = ErrorBody(err.code, err.message, err.status_code)
    if isinstance(err, UnmappedOutcomeError):  # say what was sent and what would have been understood
        body = msgspec.structs.replace(body, field=err.field, value=err.value, accepted=err.accepted)
    return body


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()
