"""The callback server with body signatures configured: a URL naming a sender demands that sender's signature.

Over ASGI on the test's loop against the session's real dev server. A callback that gets past every check on
a URL for a workflow that does not exist comes back `404 workflow_not_found`: proof it reached Temporal.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest
from temporalio.client import Client

from app.callbacks.server import create_app
from app.callbacks.signatures.standard_webhooks import parse_key, signature_headers
from app.demo.payloads import StagedRunInput
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import Settings
from app.starter import start_staged_run
from tests.asgi import asgi_client

KEY_TEXT = "whsec_" + base64.b64encode(b"test sender key, 32 bytes long!!").decode()
NEW_KEY_TEXT = "whsec_" + base64.b64encode(b"the next key after a rotation").decode()
KEY, NEW_KEY = parse_key(KEY_TEXT), parse_key(NEW_KEY_TEXT)
BODY = b'{"status": "completed"}'


def _path(settings: Settings, workflow_id: str, *, sender: str | None = "svc", mode: Mode = Mode.SIGNAL) -> str:
    target = CallbackTarget(
        mode=mode,
        workflow_id=workflow_id,
        stage=1,
        attempt=1,
        expires_at=int(time.time()) + 300,
        task_token=b"\x01not-a-real-token" if mode is Mode.TOKEN else None,
        sender=sender,
    )
    parts = urlsplit(build_callback_url("http://test", settings.signing_secrets[0], target))
    return f"{parts.path}?{parts.query}"


def _signed(
    body: bytes = BODY, *, keys: tuple[bytes, ...] = (KEY,), ts: int | None = None, wid: str = ""
) -> dict[str, str]:
    when = int(time.time()) if ts is None else ts
    return {
        "content-type": "application/json",
        **signature_headers(keys, wid or f"msg_{uuid.uuid4().hex}", when, body),
    }


@pytest.fixture
async def http(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    # The sender is mid-rotation: both keys are configured, either may sign.
    configured = replace(settings, callback_webhook_senders={"svc": (KEY_TEXT, NEW_KEY_TEXT)})
    async with asgi_client(create_app(configured, client=client)) as c:
        yield c


def _nowhere() -> str:
    return f"nowhere-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("mode", list(Mode))
async def test_signed_body_gets_through_with_either_key(
    http: httpx.AsyncClient, settings: Settings, mode: Mode
) -> None:
    for keys in [(KEY,), (NEW_KEY,), (KEY, NEW_KEY)]:
        r = await http.post(_path(settings, _nowhere(), mode=mode), content=BODY, headers=_signed(keys=keys))
        assert 400 <= r.status_code < 500, r.text  # past the signature: Temporal's own answer
        assert r.json()["error"] in {"workflow_not_found", "activity_not_open", "rejected_by_temporal"}, r.text


async def test_tampered_body_is_refused_before_it_is_read(http: httpx.AsyncClient, settings: Settings) -> None:
    headers = _signed()
    r = await http.post(_path(settings, _nowhere()), content=b'{"status": "failed"}', headers=headers)
    assert (r.status_code, r.json()["error"]) == (403, "bad_body_signature"), r.text
    # Even a body that is not JSON: the signature is checked first.
    r = await http.post(_path(settings, _nowhere()), content=b"{not json", headers=headers)
    assert (r.status_code, r.json()["error"]) == (403, "bad_body_signature"), r.text


async def test_replay_outside_the_window_is_refused(http: httpx.AsyncClient, settings: Settings) -> None:
    old = _signed(ts=int(time.time()) - settings.callback_webhook_tolerance_seconds - 60)
    r = await http.post(_path(settings, _nowhere()), content=BODY, headers=old)
    assert (r.status_code, r.json()["error"]) == (403, "stale_body_signature"), r.text


async def test_missing_or_repeated_headers(http: httpx.AsyncClient, settings: Settings) -> None:
    r = await http.post(_path(settings, _nowhere()), content=BODY, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (401, "missing_body_signature"), r.text
    signed = _signed()
    twice = [*signed.items(), ("webhook-signature", signed["webhook-signature"])]
    r = await http.post(_path(settings, _nowhere()), content=BODY, headers=twice)
    assert (r.status_code, r.json()["error"]) == (400, "malformed_body_signature"), r.text


async def test_key_of_another_sender_is_refused(http: httpx.AsyncClient, settings: Settings) -> None:
    stranger = parse_key("whsec_" + base64.b64encode(b"someone else").decode())
    r = await http.post(_path(settings, _nowhere()), content=BODY, headers=_signed(keys=(stranger,)))
    assert (r.status_code, r.json()["error"]) == (403, "bad_body_signature"), r.text


async def test_optional_per_sender(http: httpx.AsyncClient, settings: Settings) -> None:
    # A URL that names no sender needs no body signature (the URL alone is the capability) ...
    r = await http.post(_path(settings, _nowhere(), sender=None), json={})
    assert (r.status_code, r.json()["error"]) == (404, "workflow_not_found"), r.text
    # ... one naming a sender without configured keys is refused (our own configuration gap, said so) ...
    r = await http.post(_path(settings, _nowhere(), sender="other"), content=BODY, headers=_signed())
    assert (r.status_code, r.json()["error"]) == (403, "unknown_sender"), r.text
    # ... and the sender cannot be stripped from a URL: it is signed.
    path = _path(settings, _nowhere())
    r = await http.post(path.replace("&snd=svc", ""), json={})
    assert (r.status_code, r.json()["error"]) == (403, "bad_signature"), r.text


async def test_webhook_id_becomes_the_callback_id(http: httpx.AsyncClient, settings: Settings, client: Client) -> None:
    # No worker polls this task queue: the run stays open and its history shows what the server signalled.
    handle = await start_staged_run(client, settings.task_queue, StagedRunInput(stages=1))
    try:
        body = json.dumps({"status": "progress", "callback_id": "the-body-says-this"}).encode()
        r = await http.post(_path(settings, handle.id), content=body, headers=_signed(body, wid="msg_from_header"))
        assert r.status_code == 202, r.text
        signals = [
            json.loads(e.workflow_execution_signaled_event_attributes.input.payloads[0].data)
            async for e in handle.fetch_history_events()
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert [s["callback_id"] for s in signals] == ["msg_from_header"]
    finally:
        await handle.terminate("test done")
