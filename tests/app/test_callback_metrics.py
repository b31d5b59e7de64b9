"""The callback server's Prometheus metrics, scraped over loopback HTTP after callbacks whose outcome we know."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from app.callbacks.server import create_app
from app.demo.payloads import StagedRunInput
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import Settings
from app.starter import start_staged_run
from tests.asgi import serving

SIGNAL_ROUTE = {"route": "/callbacks/signal", "mode": "signal"}


def _path(secret: str, workflow_id: str, *, expires_in: int = 300) -> str:
    target = CallbackTarget(Mode.SIGNAL, workflow_id, 1, 1, int(time.time()) + expires_in)
    parts = urlsplit(build_callback_url("http://unused", secret, target))
    return f"{parts.path}?{parts.query}"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def http(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(settings, client=client)) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        yield c


async def test_metrics_count_accepted_and_rejected_callbacks(
    http: httpx.AsyncClient, settings: Settings, client: Client
) -> None:
    # No worker polls this task queue: the run stays open and takes both signals.
    handle = await start_staged_run(client, settings.task_queue, StagedRunInput(stages=2))
    secret = settings.signing_secrets[0]
    try:
        for callback_id in ("first", "second"):
            r = await http.post(_path(secret, handle.id), json={"callback_id": callback_id})
            assert r.status_code == 202, r.text
        r = await http.post(_path("not-our-secret", handle.id), json={})
        assert (r.status_code, r.json()["error"]) == (403, "bad_signature")
        r = await http.get("/metrics")
    finally:
        await handle.terminate("test done")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    accepted = {**SIGNAL_ROUTE, "status_code": "202", "temporal_call": "signal advance_stage"}
    refused = {**SIGNAL_ROUTE, "status_code": "403", "temporal_call": "none"}
    assert _value(samples, "stagegate_callbacks_total", **accepted) == 2
    assert _value(samples, "stagegate_callbacks_total", **refused) == 1
    assert _value(samples, "stagegate_callbacks_rejected_total", **SIGNAL_ROUTE, reason="bad_signature") == 1
    # Only the two verified callbacks reached Temporal: the forwarding histogram saw those two, nothing else.
    forwarded = {"mode": "signal", "outcome": "accepted"}
    assert _value(samples, "stagegate_callback_forward_seconds_count", **forwarded) == 2
    assert _value(samples, "stagegate_callback_forward_seconds_bucket", **forwarded, le="+Inf") == 2
    assert _value(samples, "stagegate_callback_forward_seconds_count", mode="signal", outcome="rejected") == 0
    # The scrape itself and other routes are not callbacks.
    routes = {dict(labels)["route"] for name, labels in samples if name == "stagegate_callbacks_total"}
    assert routes == {"/callbacks/signal"}


async def test_rejections_by_reason(http: httpx.AsyncClient, settings: Settings) -> None:
    secret = settings.signing_secrets[0]
    expired = await http.post(_path(secret, "any", expires_in=-10), json={})
    assert expired.status_code == 403
    bad_body = await http.post(_path(secret, "any"), json={"status": "finished"})
    assert bad_body.status_code == 400
    gone = await http.post(_path(secret, "no-such-workflow-for-metrics"), json={})
    assert gone.status_code == 404
    samples = _samples((await http.get("/metrics")).text)
    for reason in ("expired", "invalid_body", "workflow_not_found"):
        assert _value(samples, "stagegate_callbacks_rejected_total", **SIGNAL_ROUTE, reason=reason) == 1, reason
    # Refused by Temporal: the hand-over was attempted and timed as rejected.
    assert _value(samples, "stagegate_callback_forward_seconds_count", mode="signal", outcome="rejected") == 1
    assert _value(samples, "stagegate_callbacks_total", **SIGNAL_ROUTE, status_code="404", temporal_call="none") == 1
