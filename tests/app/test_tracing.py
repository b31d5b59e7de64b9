"""One trace across the webhook hop, in every mode, caught by an in-memory span exporter.

Real parts: the session's dev server, an in-process worker (build_worker, Temporal's TracingInterceptor on its
client), the callback server and the service mock on loopback HTTP (uvicorn, on the test's loop). By default the
service mock is NOT instrumented: its callbacks carry no trace header, so only the signed callback URL can bring
the callback back into the stage's trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.worker import Interceptor, Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from app.callbacks.server import create_app
from app.demo.payloads import StagedRunInput
from app.demo.workflow import StagedCallbackWorkflow
from app.gate.trace_context import current_traceparent
from app.gate.types import Mode, Outcome
from app.runtime.config import Settings
from app.runtime.tracing import Tracing, traced_client
from app.starter import start_staged_run
from app.worker import SANDBOX_RESTRICTIONS, build_worker
from service_mock.config import Settings as ServiceSettings
from service_mock.server import create_app as create_service
from tests.asgi import serving

RUN_TIMEOUT = 60.0
SPAN_TIMEOUT = 10.0
# The Temporal call each mode's callback makes, as the client span names it.
TEMPORAL_CALL = {
    Mode.SIGNAL: "SignalWorkflow:advance_stage",
    Mode.UPDATE: "StartWorkflowUpdate:advance_stage",
    Mode.TOKEN: "CompleteAsyncActivity",
}
STAGE_ACTIVITY = {Mode.SIGNAL: "request_stage", Mode.UPDATE: "request_stage", Mode.TOKEN: "await_stage_callback"}


@dataclass(frozen=True)
class TracedStack:
    """The pieces one test drives, and where their spans end up."""

    client: Client
    task_queue: str
    exporter: InMemorySpanExporter
    tracing: Tracing


@pytest.fixture
def service_traced(request: pytest.FixtureRequest) -> bool:
    """Whether the service mock is instrumented too (then its callbacks carry a traceparent header)."""
    return bool(request.param)


@pytest.fixture
async def traced(client: Client, settings: Settings, service_traced: bool) -> AsyncIterator[TracedStack]:
    exporter = InMemorySpanExporter()
    tracing = Tracing.create("stagegate-test", [SimpleSpanProcessor(exporter)])
    traced = traced_client(client, tracing)
    service_settings = ServiceSettings(heartbeat_interval=0.05, callback_backoff_initial=0.05)
    service_app = create_service(service_settings, tracer_provider=tracing.provider if service_traced else None)
    try:
        async with (
            serving(service_app) as service_url,
            serving(create_app(settings, client=traced, tracing=tracing)) as callback_url,
            httpx.AsyncClient() as http,
        ):
            run_settings = replace(
                settings, service_url=service_url, callback_base_url=callback_url, worker_max_cached_workflows=0
            )
            async with build_worker(run_settings, traced, tracing.instrument(http)):
                yield TracedStack(traced, settings.task_queue, exporter, tracing)
    finally:
        tracing.shutdown()


def _one(spans: list[ReadableSpan], name: str, where: Callable[[ReadableSpan], bool] = lambda _: True) -> ReadableSpan:
    found = [s for s in spans if s.name == name and where(s)]
    assert len(found) == 1, f"{len(found)} spans named {name!r}: {sorted(s.name for s in spans)}"
    return found[0]


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


async def _finished_spans(exporter: InMemorySpanExporter, needed: list[str]) -> list[ReadableSpan]:
    """The exported spans once every name in `needed` is among them (the HTTP answer may trail the run's end)."""
    async with asyncio.timeout(SPAN_TIMEOUT):
        while True:
            spans = list(exporter.get_finished_spans())
            if set(needed) <= {s.name for s in spans}:
                return spans
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("mode", "service_traced"),
    [(Mode.SIGNAL, False), (Mode.TOKEN, False), (Mode.UPDATE, False), (Mode.SIGNAL, True)],
    ids=["signal", "token", "update", "signal-traced-service"],
    indirect=["service_traced"],
)
async def test_one_callback_is_one_trace(traced: TracedStack, service_traced: bool, mode: Mode) -> None:
    handle = await start_staged_run(
        traced.client,
        traced.task_queue,
        StagedRunInput(mode=mode, stages=1, time_to_request=0.0, time_to_callback=0.1),
    )
    result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    assert result.stages[0].outcome is Outcome.COMPLETED

    route = f"/callbacks/{mode.value}"
    activity = STAGE_ACTIVITY[mode]
    spans = await _finished_spans(
        traced.exporter,
        [f"POST {route}", TEMPORAL_CALL[mode], "StageResumed:1", "CompleteWorkflow:StagedCallbackWorkflow"],
    )
    mine = [s for s in spans if s.attributes is None or s.attributes.get("temporalWorkflowID", handle.id) == handle.id]

    # The run's trace starts where the run was started.
    start = _one(mine, "StartWorkflow:StagedCallbackWorkflow")
    assert start.parent is None
    trace_id = _trace_id(start)

    # 1. The stage request: the activity (scheduled by the workflow) makes the HTTP call to the service.
    scheduled = _one(mine, f"StartActivity:{activity}")
    run_activity = _one(mine, f"RunActivity:{activity}")
    service_request = _one(
        spans,
        "POST",
        lambda s: s.kind is SpanKind.CLIENT and str((s.attributes or {}).get("http.url", "")).endswith("/request"),
    )
    assert _parent_id(scheduled) == _span_id(start)
    assert _parent_id(run_activity) == _span_id(scheduled)
    assert _parent_id(service_request) == _span_id(run_activity)

    # 2. The callback received, in the same trace.
    received = _one(spans, f"POST {route}", lambda s: s.kind is SpanKind.SERVER)
    assert received.attributes is not None
    assert received.attributes["stagegate.workflow_id"] == handle.id
    assert received.attributes["stagegate.mode"] == mode.value
    if service_traced:
        # The service forwarded trace headers from the same trace: its own callback request is the finer parent.
        service_callback = _one(spans, "POST", lambda s: s.kind is SpanKind.CLIENT and s is not service_request)
        assert _parent_id(received) == _span_id(service_callback)
    else:
        # No trace header came with the callback: the signed URL's traceparent (the activity's span) is the parent.
        assert _parent_id(received) == _span_id(run_activity)

    # 3. The Temporal call the callback server made for it.
    temporal_call = _one(spans, TEMPORAL_CALL[mode])
    assert _parent_id(temporal_call) == _span_id(received)

    # 4. The workflow handling it: the SDK's handler span (linked to the call), and the gate resuming the run.
    if mode is not Mode.TOKEN:
        kind = "Signal" if mode is Mode.SIGNAL else "Update"
        handled = _one(mine, f"Handle{kind}:advance_stage")
        assert _parent_id(handled) == _span_id(start)
        assert [link.context.span_id for link in handled.links] == [_span_id(temporal_call)]
    resumed = _one(mine, "StageResumed:1")
    assert _parent_id(resumed) == _span_id(start)
    assert resumed.attributes is not None
    assert (resumed.attributes["stagegate.mode"], resumed.attributes["stagegate.outcome"]) == (mode.value, "completed")

    trace = [start, scheduled, run_activity, service_request, received, temporal_call, resumed]
    assert {_trace_id(s) for s in trace} == {trace_id}
    # The URL's signature never lands in a span (OpenTelemetry redacts `sig`).
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "sig=" not in str(value) or "sig=REDACTED" in str(value), (span.name, value)

    # Replaying this traced run (a worker restart, a cache eviction) repeats no span and makes no new command.
    traced.exporter.clear()
    replayer = Replayer(
        workflows=[StagedCallbackWorkflow],
        interceptors=[i for i in traced.tracing.temporal_interceptors() if isinstance(i, Interceptor)],
        workflow_runner=SandboxedWorkflowRunner(restrictions=SANDBOX_RESTRICTIONS),
    )
    await replayer.replay_workflow(await handle.fetch_history())
    assert [s.name for s in traced.exporter.get_finished_spans()] == []


def test_no_traceparent_without_a_recording_span() -> None:
    """Tracing off (no provider, no span): stage activities put no traceparent into callback URLs."""
    assert current_traceparent() is None
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("s"):
        assert current_traceparent() is not None
    provider.shutdown()
