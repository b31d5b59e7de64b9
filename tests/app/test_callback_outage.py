"""Finding 3, receiver side: with Temporal slow or down, a sender sees 503 + Retry-After inside its own timeout.

The old callback server waited up to 10 s per RPC (and a lazy client's first connection to a Temporal that
accepts TCP but never answers took 30 s), so a sender with a 5 s timeout saw a read timeout, never the 503.
Real HTTP on loopback (uvicorn), a real client pointed at a loopback socket that accepts and stays silent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import httpx
from temporalio.client import Client

from app.callbacks.server import create_app
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import Settings
from service_mock.config import Settings as SenderSettings
from tests.asgi import serving
from tests.stack import free_port

# What a typical sender waits per attempt: the service mock's default.
SENDER_TIMEOUT = SenderSettings().callback_timeout


@asynccontextmanager
async def silent_temporal() -> AsyncIterator[str]:
    """A loopback address that accepts TCP connections and never answers (a hung or overloaded Temporal)."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with suppress(Exception):
            await reader.read()  # until the client gives up and closes

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def _path(settings: Settings, mode: Mode) -> str:
    target = CallbackTarget(
        mode=mode,
        workflow_id="outage-wf",
        stage=1,
        attempt=1,
        expires_at=int(time.time()) + 300,
        task_token=b"\x01not-a-real-token" if mode is Mode.TOKEN else None,
    )
    parts = urlsplit(build_callback_url("http://test", settings.signing_secrets[0], target))
    return f"{parts.path}?{parts.query}"


async def _callbacks_while(settings: Settings, temporal_address: str) -> tuple[list[httpx.Response], httpx.Response]:
    """One callback per mode (at once) and a readiness probe, each sent with the sender's own timeout."""
    dead = await Client.connect(temporal_address, lazy=True)
    async with (
        serving(create_app(settings, client=dead)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=SENDER_TIMEOUT) as http,
    ):
        answers = await asyncio.gather(*(http.post(_path(settings, mode), json={}) for mode in Mode))
        ready = await http.get("/readyz")
    return list(answers), ready


def _assert_retry_later(settings: Settings, answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    # Update mode cannot tell a silent Temporal from a missing worker: the SDK reports both as a timed-out update.
    assert answer.json()["error"] in {"temporal_unavailable", "no_worker"}, answer.text
    assert answer.headers["retry-after"] == str(settings.callback_retry_after_seconds)


async def test_silent_temporal_gets_503_with_retry_after_inside_the_sender_timeout(settings: Settings) -> None:
    assert settings.callback_temporal_timeout_seconds < SENDER_TIMEOUT
    async with silent_temporal() as address:
        # A read timeout here (httpx.ReadTimeout) is the bug: the sender would never learn to retry later.
        answers, ready = await _callbacks_while(settings, address)
    for answer in answers:
        _assert_retry_later(settings, answer)
    assert ready.status_code == 503, ready.text


async def test_temporal_down_gets_503_with_retry_after(settings: Settings) -> None:
    answers, ready = await _callbacks_while(settings, f"127.0.0.1:{free_port()}")
    for answer in answers:
        _assert_retry_later(settings, answer)
    assert ready.status_code == 503, ready.text
