"""The callback server (Litestar): verifies signed callbacks and forwards them to Temporal, one route per mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import cast

import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send
from temporalio.client import Client

from app.callbacks.body_check import BodyCheck
from app.callbacks.fast_path import CallbackFastPath
from app.callbacks.forwarding import Temporal
from app.callbacks.handling import CallbackHandling, Refusal
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
from app.callbacks.tracing import annotate_hook_span, tracing_middleware
from app.callbacks.wire import Accepted, ErrorBody
from app.errors import CallbackRefusedError
from app.runtime.config import Settings
from app.runtime.tracing import Tracing

log = structlog.get_logger(__name__)


class CallbackServer(Litestar):
    """The Litestar app, with the three callback POSTs served by the fast path in front of it.

    `fast_path` is set by `create_app`; the callback routes stay registered in Litestar (OpenAPI documents them,
    and they answer what the fast path leaves to them, e.g. a trailing slash), sharing its `CallbackHandling`.
    """

    fast_path: CallbackFastPath
    fast_asgi: ASGIApp  # the fast path, inside the tracing middleware when tracing is on

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        """A callback POST goes to the fast path; everything else to Litestar."""
        if self.fast_path.serves(scope):
            await self.fast_asgi(cast("Scope", scope), cast("Receive", receive), cast("Send", send))
            return
        await super().__call__(scope, receive, send)


def _callback_route(spec: ModeSpec) -> HTTPRouteHandler:
    """The route of one mode in Litestar: documents it, and serves what the fast path leaves to Litestar."""

    async def handler(request: Request[object, object, State]) -> Response[Accepted]:
        handling: CallbackHandling = request.app.state.handling
        answer = await handling.take(spec, request.query_params.multi_items(), request.scope["headers"], request.body)
        return Response(answer.body, status_code=answer.status_code)

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


def _refused(request: Request[object, object, State], err: CallbackRefusedError) -> Response[ErrorBody]:
    return _response(_handling(request).refused(request.url.path, err))


def _response(refusal: Refusal) -> Response[ErrorBody]:
    return Response(refusal.body, status_code=refusal.status_code, headers=refusal.headers)


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics_route(request: Request[object, object, State]) -> Response[bytes]:
    """The callback server's metrics (Prometheus text format)."""
    content, content_type = _metrics(request).render()
    return Response(content, media_type=content_type)


def _metrics(request: Request[object, object, State]) -> CallbackMetrics:
    metrics: CallbackMetrics = request.app.state.metrics
    return metrics


def _handling(request: Request[object, object, State]) -> CallbackHandling:
    handling: CallbackHandling = request.app.state.handling
    return handling


def _http_error(request: Request[object, object, State], err: HTTPException) -> Response[ErrorBody]:
    return _response(_handling(request).http_error(request.url.path, err.status_code, str(err.detail)))


def _unexpected_error(request: Request[object, object, State], err: Exception) -> Response[ErrorBody]:
    """A bug (no input is meant to get here): log it with its traceback, answer with the usual JSON error."""
    return _response(_handling(request).unexpected(request.method, request.url.path, err))


def _provide_client(state: State) -> Client:
    client: Client = state.client
    return client


def _provide_temporal(state: State) -> Temporal:
    temporal: Temporal = state.temporal
    return temporal


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    tracing: Tracing | None = None,
    hook_delivery: Delivery | None = None,
) -> CallbackServer:
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
    initial.handling = CallbackHandling(
        settings, BodyCheck.from_settings(settings), initial.metrics, lambda: _provide_temporal(initial)
    )
    app = CallbackServer(
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
            CallbackRefusedError: _refused,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        request_max_body_size=settings.callback_max_body_bytes,
        openapi_config=OpenAPIConfig(title="stagegate callback server", version="0.1.0", path="/schema"),
        before_request=_clear_log_context,
        logging_config=None,  # app.runtime.logs configures logging; Litestar must not replace our handlers
    )
    app.fast_path = CallbackFastPath(initial.handling, SPECS.values(), max_body_bytes=settings.callback_max_body_bytes)
    # Traced like Litestar's own requests: the same middleware (span name, URL trace context) around it.
    app.fast_asgi = app.fast_path if tracing is None else tracing_middleware(tracing)(app.fast_path)
    return app


async def _clear_log_context(_: Request[object, object, State]) -> None:
    # Async on purpose: Litestar runs a sync hook in its thread pool, a thread hop (and wake-up) per request.
    structlog.contextvars.clear_contextvars()
