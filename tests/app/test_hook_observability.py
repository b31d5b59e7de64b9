"""Metrics and the trace of the fixed endpoints (`POST /hooks/{source}`), read the way operators read them.

Real parts: the session's dev server, an in-process worker running the mailbox workflow, the callback server on
loopback HTTP (its `/metrics` read over HTTP), spans caught by an in-memory exporter.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from stripe import WebhookSignature
from temporalio.client import Client
from temporalio.worker import Worker

from app import HookMailboxWorkflow, deliver_hook_event
from app.callbacks.server import create_app
from app.gate.hook_types import mailbox_id
from app.runtime.config import Settings, hook_sources_from
from app.runtime.tracing import Tracing, traced_client
from tests.asgi import serving

SECRET = "whsec_hook_observability_test"
HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "pay:stripe",
    "STAGEGATE_HOOK_PAY_SECRET": SECRET,
    "STAGEGATE_HOOK_PAY_KEY_PATH": "data.object.id",
    "STAGEGATE_HOOK_PAY_EVENT_ID_PATH": "id",
}
MAX_BODY = 4096
SPAN_TIMEOUT = 10.0


@dataclass(frozen=True)
class Hooks:
    client: Client
    http: httpx.AsyncClient
    exporter: InMemorySpanExporter


@pytest.fixture
async def hooks(client: Client, settings: Settings) -> AsyncIterator[Hooks]:
    exporter = InMemorySpanExporter()
    tracing = Tracing.create("stagegate-test", [SimpleSpanProcessor(exporter)])
    traced = traced_client(client, tracing)
    settings = replace(settings, hook_sources=hook_sources_from(HOOK_ENV), callback_max_body_bytes=MAX_BODY)
    worker = Worker(
        traced,
        task_queue=settings.task_queue,
        workflows=[HookMailboxWorkflow],
        activities=[deliver_hook_event],
        max_cached_workflows=0,
    )
    try:
        async with (
            serving(create_app(settings, client=traced, tracing=tracing)) as callback_url,
            httpx.AsyncClient(base_url=callback_url, timeout=10) as http,
            worker,
        ):
            yield Hooks(traced, http, exporter)
    finally:
        tracing.shutdown()


def _signed(event: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    header = WebhookSignature.generate_signature_header(body.decode(), SECRET, timestamp=int(time.time()))
    return body, {"stripe-signature": header, "content-type": "application/json"}


def _event(key: str) -> dict[str, object]:
    return {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "payment_intent.succeeded", "data": {"object": {"id": key}}}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_hook_events_refusals_and_latency_are_counted_with_bounded_labels(hooks: Hooks) -> None:
    key = f"pi_metrics_{uuid.uuid4().hex[:8]}"
    body, headers = _signed(_event(key))
    kept = await hooks.http.post("/hooks/pay", content=body, headers=headers)
    again = await hooks.http.post("/hooks/pay", content=body, headers=headers)
    assert (kept.json()["outcome"], again.json()["outcome"]) == ("kept", "duplicate")
    tampered = await hooks.http.post("/hooks/pay", content=body.replace(b"succeeded", b"succeeded "), headers=headers)
    unknown = await hooks.http.post("/hooks/not-configured-xyz", content=body, headers=headers)
    oversized = await hooks.http.post("/hooks/pay", content=b"x" * (MAX_BODY + 1), headers=headers)
    assert [r.status_code for r in (tampered, unknown, oversized)] == [403, 404, 413]

    text = (await hooks.http.get("/metrics")).text
    samples = _samples(text)
    assert samples[("stagegate_hook_events_total", (("outcome", "kept"), ("source", "pay")))] == 1
    assert samples[("stagegate_hook_events_total", (("outcome", "duplicate"), ("source", "pay")))] == 1
    assert samples[("stagegate_hook_delivery_seconds_count", (("outcome", "kept"), ("source", "pay")))] == 1
    rejected = {
        labels: value for (name, labels), value in samples.items() if name == "stagegate_hook_events_rejected_total"
    }
    assert rejected == {
        (("reason", "bad_body_signature"), ("source", "pay")): 1,
        (("reason", "unknown_source"), ("source", "unknown")): 1,
        (("reason", "body_too_large"), ("source", "pay")): 1,
    }
    assert "not-configured-xyz" not in text  # a path must not mint label values
    # The callback route counters see every fixed endpoint under one route label.
    assert (
        samples[
            (
                "stagegate_callbacks_total",
                (("mode", "hook"), ("route", "/hooks/*"), ("status_code", "202"), ("temporal_call", "mailbox kept")),
            )
        ]
        == 1
    )
    await hooks.client.get_workflow_handle(mailbox_id("pay", key)).terminate("test over")


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


async def test_the_hook_request_span_is_the_parent_of_the_mailbox_update(hooks: Hooks) -> None:
    key = f"pi_trace_{uuid.uuid4().hex[:8]}"
    body, headers = _signed(_event(key))
    answer = await hooks.http.post("/hooks/pay", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    update_name = "StartUpdateWithStartWorkflow:StagegateHookMailbox"
    handled_name = "HandleUpdate:deliver_event"
    async with asyncio.timeout(SPAN_TIMEOUT):
        while True:
            spans = list(hooks.exporter.get_finished_spans())
            names = {s.name for s in spans}
            requests = [s for s in spans if (s.attributes or {}).get("stagegate.hook_source") == "pay"]
            if requests and {update_name, handled_name} <= names:
                break
            await asyncio.sleep(0.05)
    (request,) = requests
    assert (request.attributes or {}).get("stagegate.hook_outcome") == "kept"
    (update,) = [s for s in spans if s.name == update_name]
    (handled,) = [s for s in spans if s.name == handled_name]
    assert update.parent is not None, names
    assert update.parent.span_id == _span_id(request), names
    assert request.context is not None
    assert handled.context is not None
    assert handled.context.trace_id == request.context.trace_id  # the worker's side joins the request's trace
    await hooks.client.get_workflow_handle(mailbox_id("pay", key)).terminate("test over")
