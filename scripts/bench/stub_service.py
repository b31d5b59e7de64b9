"""The benchmark's stand-in for the external service: answers stage requests at once, hands each to the bench.

A bare ASGI app served by uvicorn on the bench's own event loop. It answers `POST /request` with a job ID and
only then tells the bench (in a task of its own, so the worker's keep-alive connection is free for its next
request); the bench decides how and when the callback is fired, so it knows that moment exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass(frozen=True)
class StageAsk:
    """One stage request as the stub received it."""

    workflow_id: str
    stage: int
    callback_url: str
    idempotency_key: str
    received_at: float  # time.time()


OnAsk = Callable[[StageAsk], Coroutine[Any, Any, None]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class StubService:
    """ASGI app: `POST /request` -> 200 `{"job_id": ...}`, then `on_ask(ask)` in its own task; `GET /healthz`."""

    def __init__(self, on_ask: OnAsk) -> None:
        self._on_ask = on_ask
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.errors = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "GET" and scope["path"] == "/healthz":
            await _answer(send, 200, {"status": "ok"})
            return
        if scope["method"] != "POST" or scope["path"] != "/request":
            await _answer(send, 404, {"error": "not_found"})
            return
        try:
            ask = _parse(json.loads(body))
        except (ValueError, KeyError, TypeError) as err:
            self.errors += 1
            await _answer(send, 400, {"error": "invalid_request", "message": str(err)})
            return
        self.requests += 1
        await _answer(send, 200, {"job_id": ask.idempotency_key})
        task = asyncio.create_task(self._on_ask(ask))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the callbacks still being fired."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _parse(data: dict[str, Any]) -> StageAsk:
    payload = data["payload"]
    return StageAsk(
        workflow_id=str(payload["workflow_id"]),
        stage=int(payload["stage"]),
        callback_url=str(data["callback_url"]),
        idempotency_key=str(data["idempotency_key"]),
        received_at=time.time(),
    )


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class _NoSignalsServer(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM capture: the bench owns Ctrl-C and stops the stub itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class StubServer:
    """uvicorn serving a StubService (or any bare ASGI app) on a loopback port, on the caller's event loop."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on", backlog=4096
        )
        self._server = _NoSignalsServer(config)
        self._task: asyncio.Task[None] | None = None
        self.url = f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> StubServer:
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(10):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises why it stopped
                await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
