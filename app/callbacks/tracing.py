"""Tracing in the callback server: Litestar's OpenTelemetry middleware, fed the trace context of the callback URL.

The stage activity signs its span's `traceparent` into the callback URL. Before the request span starts, that
value becomes the request's `traceparent` header unless the sender already sent one from the same trace (a
service that forwards trace context gives the finer parent). So a callback joins the stage's trace even when
the service drops trace headers, and a service's unrelated trace cannot pull it away.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryInstrumentationMiddleware
from litestar.types import Receive, Scope, Send
from opentelemetry import trace

from app.gate.callback_urls import CallbackTarget
from app.gate.rules import stage_id
from app.gate.trace_context import is_traceparent, trace_id_of
from app.runtime.tracing import Tracing

_HEADER = b"traceparent"
# Probes and scrapes would only add noise to the traces.
UNTRACED_PATHS = ["/healthz", "/readyz", "/metrics"]


def url_traceparent(query_string: bytes) -> str | None:
    """The callback URL's `traceparent` parameter, when there is exactly one and it is well formed."""
    values = [v for k, v in parse_qsl(query_string.decode("latin-1")) if k == "traceparent"]
    return values[0] if len(values) == 1 and is_traceparent(values[0]) else None


def with_url_trace_context(scope: Scope) -> Scope:
    """The scope with the URL's traceparent as its header, unless the header already names that trace."""
    from_url = url_traceparent(scope.get("query_string", b""))
    if from_url is None:
        return scope
    headers = list(scope.get("headers", []))
    sent = [v.decode("latin-1") for k, v in headers if k.lower() == _HEADER]
    if len(sent) == 1 and trace_id_of(sent[0]) == trace_id_of(from_url):
        return scope
    kept = [(k, v) for k, v in headers if k.lower() != _HEADER]
    # A copy: the server's own scope stays as it was received.
    return cast(Scope, {**scope, "headers": [*kept, (_HEADER, from_url.encode("latin-1"))]})


class CallbackTracingMiddleware(OpenTelemetryInstrumentationMiddleware):
    """Litestar's OpenTelemetry middleware, with the callback URL's trace context adopted first."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request inside its span."""
        if scope["type"] == ScopeType.HTTP:
            scope = with_url_trace_context(scope)
        await super().__call__(scope, receive, send)


def tracing_middleware(tracing: Tracing) -> DefineMiddleware:
    """The middleware for `Litestar(middleware=[...])` (Litestar moves it outermost)."""
    config = OpenTelemetryConfig(
        tracer_provider=tracing.provider,
        middleware_class=CallbackTracingMiddleware,
        exclude=UNTRACED_PATHS,
        # The per-chunk receive/send spans say nothing about a callback.
        exclude_spans=["receive", "send"],
    )
    return config.middleware


def annotate_request_span(target: CallbackTarget) -> None:
    """Name the run and stage on the request span, once the URL is verified (no-op when tracing is off)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(
            {
                "stagegate.workflow_id": target.workflow_id,
                "stagegate.stage": stage_id(target.stage),
                "stagegate.mode": target.mode.value,
                "stagegate.attempt": target.attempt,
            }
        )


def annotate_hook_span(source: str, outcome: str) -> None:
    """Name the fixed endpoint's source and what the mailbox answered on the request span (no-op untraced).

    The key is not set: it is the vendor's ID (an envelope, a payment), which the logs of the request name.
    """
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({"stagegate.hook_source": source, "stagegate.hook_outcome": outcome})
