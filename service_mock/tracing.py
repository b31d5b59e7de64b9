"""OpenTelemetry for the service mock, like any instrumented service: request spans, and trace headers on callbacks.

The mock is our stand-in for someone else's service, so it shares no code with `app/` (tracing included).
"""

from __future__ import annotations

import httpx
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.opentelemetry import OpenTelemetryConfig
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from service_mock.config import TracingSettings


def _one_line_json(span: ReadableSpan) -> str:
    text: str = span.to_json(indent=None)
    return text + "\n"


def _exporter(name: str, settings: TracingSettings) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(formatter=_one_line_json)
    return OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=dict(settings.otlp_headers) or None)


def start_tracing(settings: TracingSettings) -> TracerProvider | None:
    """A tracer provider exporting as configured, or None when tracing is off (the default)."""
    if not settings.exporters:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.service_name}))
    for name in settings.exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, settings)))
    return provider


def tracing_middleware(provider: TracerProvider) -> DefineMiddleware:
    """Litestar's own OpenTelemetry middleware: one server span per request (health checks left out)."""
    return OpenTelemetryConfig(
        tracer_provider=provider, exclude=["/healthz"], exclude_spans=["receive", "send"]
    ).middleware


def instrument(http: httpx.AsyncClient, provider: TracerProvider) -> None:
    """Client spans for the callbacks, with the `traceparent` header a well-behaved service sends along."""
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=provider)
