"""The gate's own span, workflow side: `StageResumed:<stage>` when a stage ends and the workflow goes on.

It closes the stage's story in the trace in every mode (in token mode nothing else marks the workflow taking the
completion). Built on Temporal's TracingInterceptor: a zero-length span, made only when that interceptor runs on
this worker and the run has a trace, never while replaying. It adds no workflow command.
"""

from __future__ import annotations

from temporalio.contrib.opentelemetry.workflow import completed_span

from app.gate.rules import stage_id
from app.gate.sdk_private import tracing_interceptor_active
from app.gate.types import StageRecord


def stage_resumed(record: StageRecord) -> None:
    """Record that the workflow resumed after `record`'s stage ended (no-op when tracing is off)."""
    # The interceptor puts itself on the workflow's context; without it `completed_span` would fall back to the
    # global tracer (and warn), so with tracing off there is nothing to do. The SDK's own check, reused.
    if not tracing_interceptor_active():
        return
    completed_span(
        f"StageResumed:{stage_id(record.stage)}",
        attributes={
            "stagegate.stage": stage_id(record.stage),
            "stagegate.mode": record.mode.value,
            "stagegate.outcome": record.outcome.value,
            "stagegate.advanced_by": record.advanced_by.value if record.advanced_by is not None else "",
            "stagegate.attempts": record.attempts,
        },
    )
