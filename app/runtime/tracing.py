"""OpenTelemetry tracing for every stagegate process: one provider, Temporal's interceptors, httpx instrumentation.

Off unless the OTEL_* variables ask for it (app.runtime.config.TracingSettings). Nothing is global: each process builds
one `Tracing` and hands its provider to what it instruments, so tests can give theirs an in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Tracer
from temporalio.client import Client, Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from app.runtime.async_activity_tracing import AsyncActivityTracingInterceptor
from app.runtime.config import TracingSettings

TRACER_NAME = "stagegate"


@dataclass(frozen=True)
class Tracing:
    """A process's tracer provider and the instrumentation built on it."""

    provider: TracerProvider

    @classmethod
    def create(cls, service_name: str, processors: Sequence[SpanProcessor]) -> Tracing:
        """A provider whose spans name `service_name` and go to `processors`."""
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
        for processor in processors:
            provider.add_span_processor(processor)
        return cls(provider)

    def tracer(self) -> Tracer:
        """The tracer for stagegate's own spans."""
        return self.provider.get_tracer(TRACER_NAME)

    def temporal_interceptors(self) -> list[Interceptor]:
        """For `Client.connect(interceptors=...)`: the client's calls and (through the client) the worker's.

        Temporal's TracingInterceptor carries the context in headers (no new workflow commands); ours adds
        the async-activity completion calls it does not cover.
        """
        return [TracingInterceptor(self.tracer()), AsyncActivityTracingInterceptor(self.tracer())]

    def instrument(self, http: httpx.AsyncClient) -> httpx.AsyncClient:
        """A span per request, and the `traceparent` header sent along; returns the same client."""
        HTTPXClientInstrumentor.instrument_client(http, tracer_provider=self.provider)
        return http

    def shutdown(self) -> None:
        """Flush what is still buffered and stop exporting (at process exit)."""
        self.provider.shutdown()


def traced_client(client: Client, tracing: Tracing) -> Client:
    """A client on the same connection whose calls are traced (e.g. only the CLI's start, not its polling)."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], *tracing.temporal_interceptors()]
    return Client(**config)


def one_span_per_line(span: ReadableSpan) -> str:
    # One span per line: easy to pick out of a process log (scripts/trace_tree.py reads them back).
    text: str = span.to_json(indent=None)
    return text + "\n"


def _exporter(name: str, settings: TracingSettings) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(formatter=one_span_per_line)
    return OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=dict(settings.otlp_headers) or None)


def start_tracing(settings: TracingSettings, *, component: str) -> Tracing | None:
    """The process's tracing as configured, or None when it is off (the default)."""
    if not settings.enabled:
        return None
    processors = [BatchSpanProcessor(_exporter(name, settings)) for name in settings.exporters]
    return Tracing.create(settings.service_name or component, processors)
