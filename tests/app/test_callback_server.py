"""Callback server over HTTP (ASGI on the test's loop) against the session's real dev server."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from temporalio.client import Client

from app.callbacks.server import create_app
from app.demo.payloads import StagedRunInput
from app.gate.types import Mode
from app.runtime.config import Settings
from app.starter import start_staged_run
from tests.app.signed_urls import callback_target, signed_path
from tests.asgi import asgi_client
from tests.stack import free_port


@pytest.fixture
async def http(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, client=client)
    async with asgi_client(app) as c:
        yield c


async def test_health_ready_and_schema(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["signing"] == "configured"
    schema = (await http.get("/schema/openapi.json")).json()
    assert {"/callbacks/signal", "/callbacks/token", "/callbacks/update", "/healthz", "/readyz"} <= set(schema["paths"])


async def test_signal_accepted_for_running_workflow(
    http: httpx.AsyncClient, settings: Settings, client: Client
) -> None:
    # No worker polls this task queue: the run stays open and the server still takes the signal.
    handle = await start_staged_run(client, settings.task_queue, StagedRunInput(stages=1))
    try:
        r = await http.post(
            signed_path(settings, callback_target(Mode.SIGNAL, handle.id)), json={"status": "completed"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["temporal_call"] == "signal advance_stage"
        history = [e async for e in handle.fetch_history_events()]
        assert any(e.HasField("workflow_execution_signaled_event_attributes") for e in history)
    finally:
        await handle.terminate("test done")


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda p: p.replace("sig=", "nosig="), 401, "missing_parameter"),
        (lambda p: p.replace("stage=1", "stage=2"), 403, "bad_signature"),
    ],
)
async def test_bad_signatures_are_rejected_before_temporal(
    http: httpx.AsyncClient, settings: Settings, mutate: object, status: int, code: str
) -> None:
    path = signed_path(settings, callback_target(Mode.SIGNAL, "does-not-matter"))
    r = await http.post(mutate(path), json={})  # type: ignore[operator]
    assert r.status_code == status
    assert r.json()["error"] == code


async def test_wrong_secret_and_expired(http: httpx.AsyncClient, settings: Settings) -> None:
    r = await http.post(signed_path(settings, callback_target(Mode.SIGNAL, "x"), secret="attacker"), json={})
    assert (r.status_code, r.json()["error"]) == (403, "bad_signature")
    r = await http.post(
        signed_path(settings, callback_target(Mode.SIGNAL, "x", expires_at=int(time.time()) - 1)), json={}
    )
    assert r.status_code == 403
    assert "expired" in r.json()["message"]


async def test_bad_bodies(http: httpx.AsyncClient, settings: Settings) -> None:
    path = signed_path(settings, callback_target(Mode.SIGNAL, "x"))
    r = await http.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_json")
    r = await http.post(path, json={"status": "finished"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_body")
    assert "status" in r.json()["message"]
    r = await http.post(path, content=b"x" * (settings.callback_max_body_bytes + 1))
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")


async def test_unknown_and_closed_workflows(http: httpx.AsyncClient, settings: Settings, client: Client) -> None:
    r = await http.post(signed_path(settings, callback_target(Mode.SIGNAL, f"nope-{uuid.uuid4()}")), json={})
    assert (r.status_code, r.json()["error"]) == (404, "workflow_not_found")
    handle = await start_staged_run(client, settings.task_queue, StagedRunInput(stages=1))
    await handle.terminate("closing it for the test")
    r = await http.post(signed_path(settings, callback_target(Mode.SIGNAL, handle.id)), json={})
    assert (r.status_code, r.json()["error"]) == (409, "workflow_closed")


async def test_garbage_task_token_is_a_4xx(http: httpx.AsyncClient, settings: Settings) -> None:
    r = await http.post(signed_path(settings, callback_target(Mode.TOKEN, "x")), json={"status": "completed"})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["message"]


async def test_temporal_down_is_503(settings: Settings) -> None:
    dead = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(settings, client=dead)
    async with asgi_client(app) as http:
        r = await http.post(signed_path(settings, callback_target(Mode.SIGNAL, "wf")), json={})
        assert (r.status_code, r.json()["error"]) == (503, "temporal_unavailable"), r.text
        r = await http.post(signed_path(settings, callback_target(Mode.TOKEN, "wf")), json={})
        assert r.status_code == 503, r.text
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200


def test_settings_replace_is_isolated(settings: Settings) -> None:
    # Sanity for the fixtures above: each test gets its own task queue.
    assert replace(settings, task_queue="x").task_queue == "x"
