"""A tiny round-robin HTTP reverse proxy for the scale-out: one loopback port in front of N callback servers.

It plays the load balancer that `CALLBACK_BASE_URL` points at in production. Each request (method,
path and query, body, content type) goes to the next upstream in turn; status, body, content type
and `Retry-After` come back unchanged. When an upstream refuses the connection the request moves on
to the next one (nothing was sent yet, so that is safe for any method); any other upstream failure
answers 502. It counts requests and answers per upstream, so the caller can see that each one took work.

It runs on the caller's event loop (uvicorn in a task), never installs signal handlers, and every
wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, MutableMapping, Sequence
from types import TracebackType
from typing import Any

import httpx
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Request headers that belong to one hop, not to the request (RFC 9110 §7.6.1), plus what httpx sets itself.
_DROP_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Response headers relayed to the client (the callback server's answers only need these).
_RELAY_RESPONSE_HEADERS = ("content-type", "retry-after")


class _QuietServer(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM handlers: the test runner or script owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class RoundRobinBalancer:
    """Round-robin reverse proxy on a free loopback port; use as `async with RoundRobinBalancer([...]) as lb`."""

    def __init__(self, upstreams: Sequence[str], *, upstream_timeout: float = 30.0, host: str = "127.0.0.1") -> None:
        if not upstreams:
            raise ValueError("at least one upstream is needed")
        self.upstreams: tuple[str, ...] = tuple(u.rstrip("/") for u in upstreams)
        self.requests: Counter[str] = Counter()  # upstream -> requests it answered (any status)
        self.statuses: Counter[tuple[str, int]] = Counter()  # (upstream, status) -> count
        self.connect_errors: Counter[str] = Counter()  # upstream -> refused connections (request moved on)
        self.bad_gateway = 0  # requests answered 502 by the balancer itself
        self._next = 0
        self._timeout = upstream_timeout
        self._host = host
        self._sock: socket.socket | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("balancer not started")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL of the balancer (what CALLBACK_BASE_URL points at)."""
        return f"http://{self._host}:{self.port}"

    def counts(self) -> dict[str, int]:
        """Requests answered per upstream, every upstream listed (0 if it got none)."""
        return {u: self.requests[u] for u in self.upstreams}

    async def start(self, *, timeout: float = 10.0) -> None:
        """Bind a free port now (so the URL is known at once) and serve until `stop`."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._sock = sock
        # trust_env=False: upstreams are on loopback; HTTP(S)_PROXY variables must not reroute them.
        self._http = httpx.AsyncClient(
            trust_env=False,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )
        config = uvicorn.Config(
            self,
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="round-robin-balancer")
        async with asyncio.timeout(timeout):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises what made uvicorn stop
                    raise RuntimeError("balancer stopped during startup")
                await asyncio.sleep(0.02)

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stop serving (uvicorn's graceful shutdown, then cancel), close the upstream client and the socket."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._http is not None:
            await self._http.aclose()
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._http = None

    async def __aenter__(self) -> RoundRobinBalancer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _pick(self) -> int:
        # One event loop, no await in between: no lock needed for the round-robin index.
        index = self._next
        self._next = (self._next + 1) % len(self.upstreams)
        return index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: forward one HTTP request to the next upstream and relay the answer."""
        if scope["type"] != "http":  # lifespan is off and websockets are disabled; nothing else arrives
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name.decode("latin-1").lower() not in _DROP_REQUEST_HEADERS
        ]
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", str(client[0])))
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        path = target.decode("latin-1")

        first = self._pick()
        for offset in range(len(self.upstreams)):
            upstream = self.upstreams[(first + offset) % len(self.upstreams)]
            try:
                assert self._http is not None
                response = await self._http.request(
                    scope["method"], upstream + path, content=bytes(body), headers=headers
                )
            except httpx.ConnectError:
                self.connect_errors[upstream] += 1
                continue
            except httpx.HTTPError as err:
                await self._answer(send, 502, {"error": "bad_gateway", "message": f"{upstream}: {err!r}"})
                self.bad_gateway += 1
                return
            self.requests[upstream] += 1
            self.statuses[upstream, response.status_code] += 1
            relayed = [
                (h.encode(), response.headers[h].encode()) for h in _RELAY_RESPONSE_HEADERS if h in response.headers
            ]
            await self._send(send, response.status_code, relayed, response.content)
            return
        self.bad_gateway += 1
        await self._answer(send, 502, {"error": "bad_gateway", "message": "no upstream accepted the connection"})

    async def _answer(self, send: Send, status: int, payload: dict[str, str]) -> None:
        await self._send(send, status, [(b"content-type", b"application/json")], json.dumps(payload).encode())

    @staticmethod
    async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
