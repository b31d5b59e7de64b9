"""The callback server's HTTP/1.1 connections: deadlines for slow clients, a connection cap, JSON parse errors.

uvicorn's h11 protocol has a keep-alive idle timeout (`timeout_keep_alive`, armed only after a response) and a
header size cap (`h11_max_incomplete_event_size`), but nothing bounds how long a client may take to send a
request's header or body: a connection that sends half a header stays open forever (slowloris), and enough of
them exhaust the server. Its `limit_concurrency` answers 503 per request but still accepts the sockets. And
what the parser refuses gets a plain-text 400. This subclass adds, per connection:

- header deadline: from the connection's start (or the first byte of the next request on a kept-alive
  connection) the whole request head must arrive within `header_timeout`; a trickle of bytes does not extend
  it. Past it the connection is closed without an answer (like nginx's `client_header_timeout`).
- body deadline: from the end of the head, the whole body must arrive within `body_timeout`; then closed.
- connection cap: a connection past `max_connections` is answered 503 (JSON, Retry-After) and closed at once.
- parse errors (a malformed or non-ASCII request line, a bad chunk size, a head over the size cap, a
  missing Host) are answered 400 with the documented JSON error body, never plain text, never 5xx.
- one write per answer: uvicorn writes a response's head and its body apart (two `send` calls, two packets,
  two reads for the sender); while the app answers, writes are held and go out as one when the response is
  complete (or the connection closes).

Everything else (keep-alive, flow control, the ASGI cycle) is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
import msgspec
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from app.callbacks.wire import ErrorBody

MALFORMED_MESSAGE = (
    "the request is not valid HTTP/1.1 (request line, headers or chunked framing), or its head is too large"
)


# Answers are a few hundred bytes; past this a long (streamed) one goes out as it comes.
_MAX_HELD_BYTES = 65536


class _CorkedTransport:
    """The connection's transport as the request cycle sees it: writes held while corked, then sent as one."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] = []
        self.corked = False

    def write(self, data: bytes) -> None:
        """Hold while corked (an empty write, as h11's end of a sized body, is dropped); else write through."""
        if not self.corked:
            self._transport.write(data)
        elif data:
            self._held.append(data)
            if sum(map(len, self._held)) > _MAX_HELD_BYTES:  # a streamed answer is not held back whole
                self.flush()
                self.corked = True

    def flush(self) -> None:
        """Uncork: what was held goes out in one write."""
        self.corked = False
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            self._transport.write(data)

    def close(self) -> None:
        """Whatever was held is written before the close (asyncio sends buffered data before closing)."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines (seconds) and the connection cap; see the module docstring."""

    header_timeout: float = 10.0
    body_timeout: float = 15.0
    max_connections: int = 1000
    retry_after_seconds: int = 5


def _raw_json_answer(status: int, reason: str, body: ErrorBody, extra: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection (written before h11 has seen any request)."""
    payload = msgspec.json.encode(body)
    headers = {
        "content-type": "application/json",
        "content-length": str(len(payload)),
        "connection": "close",
        **(extra or {}),
    }
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("ascii") + payload


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with read deadlines, a connection cap and JSON answers to parse errors."""

    limits = ConnectionLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._corked: _CorkedTransport | None = None
        self._phase = "new"  # new -> header -> body -> app -> idle -> header ...

    # --- the connection's life ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection; refuse it past the cap; otherwise start the header deadline."""
        super().connection_made(transport)
        self._corked = _CorkedTransport(transport)
        self.transport = self._corked  # type: ignore[assignment]  # the request cycles write through it
        if len(self.connections) > self.limits.max_connections:
            body = ErrorBody(
                "too_many_connections",
                f"the callback server holds its maximum of {self.limits.max_connections} connections; retry later",
                503,
            )
            retry = {"retry-after": str(self.limits.retry_after_seconds)}
            transport.write(_raw_json_answer(503, "Service Unavailable", body, retry))
            transport.close()
            return
        self._arm("header", self.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        """Let uvicorn parse, then move the deadline to whatever part of the request is still awaited."""
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        """uvicorn arms its keep-alive idle timer; a pipelined next request may already be buffered."""
        self._cancel()
        self._phase = "idle"
        if self._corked is not None:
            self._corked.flush()
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """What the parser refused: 400 with the JSON error body (uvicorn's own answer is plain text)."""
        del msg  # uvicorn's is always "Invalid HTTP request received."
        payload = msgspec.json.encode(ErrorBody("malformed_request", MALFORMED_MESSAGE, 400))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close"),
        ]
        try:
            for event in (
                h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                h11.Data(data=payload),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:
            pass  # a response was already under way on this connection: nothing valid can be added
        self._cancel()
        self.transport.close()

    # --- deadlines ---------------------------------------------------------------------------------------------

    def _follow(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._cancel()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # Bytes of a next request on a kept-alive connection: uvicorn dropped its idle timer, start ours.
            if self._phase != "header" and self.conn.trailing_data[0]:
                self._arm("header", self.limits.header_timeout)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.limits.body_timeout)
        elif self._phase != "app":
            # The whole request is in (DONE), or the connection is ending: the app's own time is bounded
            # by CALLBACK_TEMPORAL_TIMEOUT, not by a read deadline.
            self._cancel()
            self._phase = "app"
            if self._corked is not None:
                self._corked.corked = True

    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            self.logger.info("closing a connection that took too long to send its request %s", self._phase)
            self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """The protocol class uvicorn instantiates per connection, bound to these limits."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
