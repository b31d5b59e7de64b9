"""W3C trace context as text: the current span's `traceparent`, and the checks callback URLs apply to one.

Only the OpenTelemetry API is used here (no SDK): with tracing off there is no valid span, so nothing is produced.
"""

from __future__ import annotations

import re

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# Version 00 as we write it: lower-case hex, non-zero trace and span IDs (checked separately).
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_W3C = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The `traceparent` of the current span, or None when there is none (tracing off, no span started)."""
    carrier: dict[str, str] = {}
    # W3C explicitly, whatever OTEL_PROPAGATORS says: the callback URL parameter is named after this format.
    _W3C.inject(carrier)
    value = carrier.get("traceparent")
    return value if value is not None and is_traceparent(value) else None


def is_traceparent(value: str) -> bool:
    """True for a canonical version-00 traceparent with valid (non-zero) IDs."""
    match = _TRACEPARENT.fullmatch(value)
    return match is not None and set(match.group(1)) != {"0"} and set(match.group(2)) != {"0"}


def trace_id_of(value: str) -> str | None:
    """The trace ID part of a traceparent, or None when it is not one."""
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    return match.group(1) if match is not None else None
