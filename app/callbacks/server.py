"""The callback server (Litestar): verifies signed callbacks and forwards them to Temporal, one route per mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import msgspec
import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from temporalio.client import Client

from app.callbacks.body_check import BodyCheck, check_body_signature
from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.hooks import (
    Delivery,
    HookAnswer,
    MailboxDelivery,
    hook_sources,
    unsigned_sources,
    verified_event,
)
from app.callbacks.metrics import HOOKS_ROUTE, CallbackMetrics
from app.callbacks.modes.registry import SPECS
from app.callbacks.modes.spec import ModeSpec
from app.callbacks.openapi import error_responses, hook_error_responses, operation_class
from app.callbacks.shapes import decode_foreign_body
from app.callbacks.tracing import annotate_hook_span, annotate_request_span, tracing_middleware
from app.callbacks.wire import Accepted, CallbackBody, ErrorBody, decode_callback_body
from app.errors import BadCallbackError, CallbackRefusedError, UnmappedOutcomeError
from app.gate.callback_urls import CallbackTarget, verify_callback_params
from app.runtime.config import Settings
from app.runtime.tracing import Tracing

log = structlog.get_logger(__name__)
# The `temporal_call` of an event the stage's shape ignores (answered, counted, never forwarded).
IGNORED_CALL = "none (ignored)"


def _verified(request: Request[object, object, State], settings: Settings, spec: ModeSpec) -> CallbackTarget:
    target = verify_callback_params(
        spec.mode, request.query_params.multi_items(), settings.signing_secrets, now=time.time()
    )
    structlog.contextvars.bind_contextvars(
        workflow_id=target.workflow_id, stage=str(target.stage), mode=spec.mode.value, attempt=target.attempt
    )
    annotate_request_span(target)
    return target


async def _body(
    request: Request[object, object, State], settings: Settings, target: CallbackTarget
) -> CallbackBody | None:
    """The callback as our own body; None when the stage's callback shape says to ignore it."""
    raw = await request.body()
    # Before parsing: a tampered or replayed body is refused as such, whatever it holds.
    body_check: BodyCheck = request.app.state.body_check
    signed = check_body_signature(body_check, target, request.scope["headers"], raw)
    if target.shape is not None:  # the service's own body, read with the shape the signed URL carries
        shaped = decode_foreign_body(
            raw, target.shape, request.scope["headers"], max_result_bytes=settings.callback_max_result_bytes
        )
        if shaped is None:
            return None
        body = shaped
    else:
        try:
            body = decode_callback_body(raw, max_result_bytes=settings.callback_max_result_bytes)
        except msgspec.ValidationError as err:
            raise BadCallbackError(f"callback body is invalid: {err}", code="invalid_body") from err
        except msgspec.DecodeError as err:
            raise BadCallbackError(f"callback body is not valid JSON: {err}", code="invalid_json") from err
    # A signed body's webhook-id is the dedupe key: the sender keeps it across retries, and it is signed.
    if signed is None or signed.webhook_id is None:
        return body
    return msgspec.structs.replace(body, callback_id=signed.webhook_id)


def _callback_route(spec: ModeSpec) -> HTTPRouteHandler:
    """The route of one mode: verify the signed URL, parse the body, hand it to the mode's forwarding."""

    async def handler(request: Request[object, object, State]) -> Response[Accepted]:
        # From the app's state, not Litestar's dependency injection: resolving even these two costs an anyio
        # task group and cancel scope per request, about 5 % of the callback server's CPU per callback.
        state = request.app.state
        settings: Settings = state.settings
        temporal: Temporal = state.temporal
        target = _verified(request, settings, spec)
        body = await _body(request, settings, target)
        metrics = _metrics(request)
        if body is None:
            return _ignored(spec, target, metrics)
        with metrics.forwarding(spec.mode.value):
            forwarded: Forwarded = await spec.forward(temporal, target, body, received_at=_utc_now())
        metrics.accepted(spec.path, status_code=forwarded.status_code, temporal_call=forwarded.temporal_call)
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
        return Response(answer, status_code=forwarded.status_code)

    handler.__doc__ = (
        f"Signed query: wf, stage, attempt, exp, sig{', run + act (or an older token)' if spec.carries_token else ''}. "
        "Body: CallbackBody (empty = completed)."
    )
    return post(
        spec.path,
        name=f"{spec.mode.value}_callback",
        summary=spec.summary,
        operation_id=f"{spec.mode.value}_callback",
        status_code=spec.accepted_status,
        responses=error_responses(),
        operation_class=operation_class(carries_token=spec.carries_token),
    )(handler)


@post(
    "/hooks/{source:str}",
    name="hook",
    summary="A fixed endpoint: one URL per vendor account, verified with the source's own signature scheme",
    operation_id="hook",
    status_code=202,
    responses=hook_error_responses(),
)
async def hook_route(request: Request[object, object, State]) -> Response[HookAnswer]:
    """Verify the source's signature on the exact bytes, read the correlation key and event ID, deliver.

    2xx whatever became of a verified event (kept for a stage to come, delivered, a duplicate): 200 when the
    answer carries the stage's verdict, else 202; 503 with Retry-After when Temporal cannot take it.
    """
    source: str = request.path_params["source"]
    raw = await request.body()
    event = verified_event(request.app.state.hook_sources, source, request.scope["headers"], raw)
    structlog.contextvars.bind_contextvars(hook_source=event.source, hook_key=event.key, event_id=event.event_id)
    delivery: Delivery = request.app.state.hook_delivery
    started = time.perf_counter()
    answer = await delivery(event)
    _metrics(request).hook_delivered(event.source, outcome=answer.outcome, seconds=time.perf_counter() - started)
    annotate_hook_span(event.source, answer.outcome)
    log.info("hook event delivered", outcome=answer.outcome, verdict=answer.verdict, stage=answer.stage)
    status_code = 200 if answer.verdict is not None else 202
    _metrics(request).accepted(HOOKS_ROUTE, status_code=status_code, temporal_call=f"mailbox {answer.outcome}")
    return Response(answer, status_code=status_code)


def _ignored(spec: ModeSpec, target: CallbackTarget, metrics: CallbackMetrics) -> Response[Accepted]:
    """An event the stage's callback shape maps to `ignore`: taken (so the sender stops), counted, not forwarded."""
    metrics.accepted(spec.path, status_code=202, temporal_call=IGNORED_CALL)
    log.info("callback ignored by the stage's callback shape")
    answer = Accepted(
        True, spec.mode.value, target.workflow_id, target.stage, "ignored", IGNORED_CALL, verdict="ignored"
    )
    return Response(answer, status_code=202)


@get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    """Liveness: answers as long as the process serves HTTP."""
    return {"status": "ok"}


@get("/readyz", summary="Temporal is reachable")
async def readyz(
    request: Request[object, object, State], client: NamedDependency[Client], settings: NamedDependency[Settings]
) -> Response[dict[str, object]]:
    """Readiness: 200 when Temporal answers a health check, else 503.

    `signing` says what verifies URLs; `unsigned_hook_sources` names the fixed endpoints that take events
    nobody signed (scheme `none`, opted into per source), so the exception is visible where health is checked.
    """
    security: dict[str, object] = {
        "signing": settings.signing_mode,
        "unsigned_hook_sources": unsigned_sources(request.app.state.hook_sources),
    }
    try:
        # The outer bound also covers a lazy client's first connection (up to 30 s on a Temporal that hangs).
        async with asyncio.timeout(2.5):
            await client.service_client.check_health(timeout=timedelta(seconds=2))
    except Exception as err:  # noqa: BLE001  # any failure means "not ready"; the reason goes in the body
        return Response({"status": "unavailable", "reason": str(err)[:300], **security}, status_code=503)
    return Response({"status": "ok", "temporal": "reachable", **security}, status_code=200)


def _callback_error_handler(
    retry_after_seconds: int,
) -> Callable[[Request[object, object, State], CallbackRefusedError], Response[ErrorBody]]:
    """Answers a refused callback with its type's status (app.errors.HTTP_STATUS); every 503 says when to retry."""

    def handle(request: Request[object, object, State], err: CallbackRefusedError) -> Response[ErrorBody]:
        log.warning("callback rejected", status_code=err.status_code, error=err.code, reason=err.message)
        _metrics(request).refused(request.url.path, status_code=err.status_code, reason=err.reason)
        headers = {"Retry-After": str(retry_after_seconds)} if err.status_code == 503 else None
        return Response(_error_body(err), status_code=err.status_code, headers=headers)

    return handle


def _error_body(err: CallbackRefusedError) -> ErrorBody:
    body = ErrorBody(err.code, err.message, err.status_code)
    if isinstance(err, UnmappedOutcomeError):  # say what was sent and what would have been understood
        body = msgspec.structs.replace(body, field=err.field, value=err.value, accepted=err.accepted)
    return body


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics_route(request: Request[object, object, State]) -> Response[bytes]:
    """The callback server's metrics (Prometheus text format)."""
    content, content_type = _metrics(request).render()
    return Response(content, media_type=content_type)


def _metrics(request: Request[object, object, State]) -> CallbackMetrics:
    metrics: CallbackMetrics = request.app.state.metrics
    return metrics


def _http_error(request: Request[object, object, State], err: HTTPException) -> Response[ErrorBody]:
    code = {413: "body_too_large", 404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "bad_request")
    _metrics(request).refused(request.url.path, status_code=err.status_code, reason=code)
    message = str(err.detail)
    if err.status_code == 413:
        message = "callback body is larger than the server accepts"
    return Response(ErrorBody(code, message, err.status_code), status_code=err.status_code)


def _unexpected_error(request: Request[object, object, State], err: Exception) -> Response[ErrorBody]:
    """A bug (no input is meant to get here): log it with its traceback, answer with the usual JSON error."""
    log.error(
        "unexpected error in the callback server",
        method=request.method,
        path=request.url.path,
        error_type=type(err).__name__,
        exc_info=err,
    )
    message = "the callback server hit an unexpected error; it has been logged"
    _metrics(request).refused(request.url.path, status_code=500, reason="internal_error")
    return Response(ErrorBody("internal_error", message, 500), status_code=500)


def _provide_client(state: State) -> Client:
    client: Client = state.client
    return client


def _provide_temporal(state: State) -> Temporal:
    temporal: Temporal = state.temporal
    return temporal


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    tracing: Tracing | None = None,
    hook_delivery: Delivery | None = None,
) -> Litestar:
    """App factory. Pass `client` to reuse one (tests do, on their own loop); else one is made lazily.

    `hook_delivery` takes verified `/hooks/{source}` events on; the default hands each to its key's mailbox.

    With `tracing`, requests get spans (Litestar's OpenTelemetry middleware) and the client made here traces
    its Temporal calls; a client handed in brings its own interceptors.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if client is None:
            # Lazy: the server starts (and /healthz answers) while Temporal is still down; callbacks get 503.
            own = await Client.connect(
                settings.temporal.address,
                namespace=settings.temporal.namespace,
                lazy=True,
                interceptors=tracing.temporal_interceptors() if tracing is not None else [],
                **dict(settings.temporal.connect_kwargs),
            )
            app.state.client = own
            app.state.temporal = Temporal(own, timeout_seconds=settings.callback_temporal_timeout_seconds)
        yield

    # A client handed in (tests: bound to the test's loop) is usable without running the lifespan.
    timeout = settings.callback_temporal_timeout_seconds
    initial = State(
        {"client": client, "temporal": Temporal(client, timeout_seconds=timeout)} if client is not None else {}
    )
    initial.settings = settings
    initial.body_check = BodyCheck.from_settings(settings)
    # Parsed now: a bad hook source (scheme, key, option, path) stops the server before it serves.
    initial.hook_sources = hook_sources(settings)
    initial.hook_delivery = hook_delivery or MailboxDelivery(
        lambda: _provide_temporal(initial), initial.hook_sources, settings.task_queue
    )
    if initial.hook_sources:
        log.info("hook sources", sources={n: s.scheme.name for n, s in initial.hook_sources.items()})
    if unsigned := unsigned_sources(initial.hook_sources):
        log.warning("hook sources take UNSIGNED events (scheme none, opted in)", sources=unsigned)
    initial.metrics = CallbackMetrics.create(
        {**{spec.path: spec.mode.value for spec in SPECS.values()}, HOOKS_ROUTE: "hook"},
        hook_sources=initial.hook_sources,
    )
    return Litestar(
        route_handlers=[
            *(_callback_route(spec) for spec in SPECS.values()),
            hook_route,
            healthz,
            readyz,
            metrics_route,
        ],
        middleware=[tracing_middleware(tracing)] if tracing is not None else [],
        lifespan=[lifespan],
        state=initial,
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "client": Provide(_provide_client, sync_to_thread=False),
            "temporal": Provide(_provide_temporal, sync_to_thread=False),
        },
        exception_handlers={
            CallbackRefusedError: _callback_error_handler(settings.callback_retry_after_seconds),
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        request_max_body_size=settings.callback_max_body_bytes,
        openapi_config=OpenAPIConfig(title="stagegate callback server", version="0.1.0", path="/schema"),
        before_request=_clear_log_context,
        logging_config=None,  # app.runtime.logs configures logging; Litestar must not replace our handlers
    )


async def _clear_log_context(_: Request[object, object, State]) -> None:
    # Async on purpose: Litestar runs a sync hook in its thread pool, a thread hop (and wake-up) per request.
    structlog.contextvars.clear_contextvars()
