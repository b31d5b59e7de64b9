"""Test harness: real loopback HTTP servers (the service mock and a scriptable callback receiver)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import uvicorn
from litestar import Litestar

from service_mock.config import Settings
from service_mock.server import create_app

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

WAIT = 3.0  # upper bound for any single wait; the happy path takes a fraction of this

# Fast timings so the whole suite runs in seconds.
FAST_SETTINGS = Settings(
    callback_max_attempts=4,
    callback_backoff_initial=0.01,
    callback_backoff_max=0.05,
    callback_timeout=1.0,
    heartbeat_count=3,
    heartbeat_interval=0.05,
)


class _TestServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Several servers share pytest's main thread; leave its signal handlers alone.
        yield


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: Literal["on", "off"] = "on") -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yield its base URL."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so, and without it
    # every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan=lifespan, log_config=None, access_log=False, timeout_graceful_shutdown=1)
    server = _TestServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> None:
        while not server.started:
            if task.done():
                task.result()  # surface the startup failure
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(started(), WAIT)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)
        sock.close()


@dataclass(frozen=True, slots=True)
class Hit:
    """One HTTP request the receiver got, and how it answered."""

    body: bytes
    received_at: float
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class CallbackReceiver:
    """One callback endpoint: records every request and answers from a script, then with `default_status`."""

    url: str
    default_status: int = 200
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def answer_next(self, status: int, *, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Queue `times` answers with this status (and headers) before falling back to the default."""
        self.script.extend([(status, headers or {})] * times)

    async def wait_for_hits(self, count: int, within: float = WAIT) -> list[Hit]:
        """Wait until at least `count` requests arrived."""

        async def arrived() -> None:
            while len(self.hits) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(arrived(), within)
        return list(self.hits)

    def record(self, body: bytes) -> tuple[int, dict[str, str]]:
        """Log one request and pick its answer."""
        status, headers = self.script.pop(0) if self.script else (self.default_status, {})
        self.hits.append(Hit(body, asyncio.get_running_loop().time(), status))
        self._arrived.set()
        return status, headers


@dataclass(slots=True)
class ReceiverHub:
    """Plain ASGI app serving many callback endpoints, one path each, so tests share one server."""

    base_url: str = ""
    endpoints: dict[str, CallbackReceiver] = field(default_factory=dict)

    def endpoint(self) -> CallbackReceiver:
        """A fresh endpoint; the query string stands in for the task token a real callback URL carries."""
        path = f"/callback/{uuid.uuid4().hex}"
        receiver = CallbackReceiver(url=f"{self.base_url}{path}?token=abc")
        self.endpoints[path] = receiver
        return receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        receiver = self.endpoints.get(scope["path"])
        status, headers = receiver.record(b"".join(chunks)) if receiver else (404, {})
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b'{"ok": true}'})


@contextlib.asynccontextmanager
async def running_hub() -> AsyncIterator[ReceiverHub]:
    """A receiver hub listening on loopback."""
    hub = ReceiverHub()
    async with serve(hub, lifespan="off") as url:
        hub.base_url = url
        yield hub


def refused_url() -> str:
    """A loopback URL nothing listens on: bound then closed without listen(), so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"


@dataclass(slots=True)
class RunningService:
    """The service mock served over real HTTP, plus a client pointed at it."""

    app: Litestar
    url: str
    client: httpx.AsyncClient

    async def submit(self, **body: Any) -> httpx.Response:
        """POST /request."""
        return await self.client.post("/request", json=body)

    async def job(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/{job_id}, asserting it exists."""
        response = await self.client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def wait_until_done(self, job_id: str, within: float = WAIT) -> dict[str, Any]:
        """Poll the job until the service says it has nothing more to send."""

        async def done() -> dict[str, Any]:
            while not (state := await self.job(job_id))["done"]:
                await asyncio.sleep(0.01)
            return state

        return await asyncio.wait_for(done(), within)


@contextlib.asynccontextmanager
async def running_service(settings: Settings = FAST_SETTINGS, **overrides: Any) -> AsyncIterator[RunningService]:
    """The service mock on a free loopback port, with `overrides` applied to the settings."""
    app = create_app(dataclasses.replace(settings, **overrides))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        yield RunningService(app=app, url=url, client=client)
