"""One write per answer: the guarded protocol sends a response's head and body in one transport write.

uvicorn's h11 cycle writes the head when the app starts its answer and the body when it sends it: two `send`
calls and two packets per callback, which the sender pays for too. The protocol holds them while the app
answers. Checked in-process on the protocol itself, with a transport that records what it is asked to write.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.callbacks.http_protocol import ConnectionLimits, guarded_protocol

WAIT_S = 10.0
BODY = b'{"accepted":true}'
REQUEST = b"POST /answer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    """A loopback-less transport: keeps every write, closes on request."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    """Like Litestar: the head and the body as two ASGI messages."""
    await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


async def _serve(requests: bytes, answers: int) -> RecordingTransport:
    config = Config(app=_answer, lifespan="off", log_config=None, proxy_headers=False)
    config.load()
    protocol = guarded_protocol(ConnectionLimits())(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(requests)
    async with asyncio.timeout(WAIT_S):
        while sum(w.count(b"HTTP/1.1 202") for w in transport.writes) < answers or not _complete(transport):
            await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    return transport


def _complete(transport: RecordingTransport) -> bool:
    return b"".join(transport.writes).endswith(b'{"accepted":true}')


@pytest.mark.asyncio
async def test_an_answer_is_one_write() -> None:
    transport = await _serve(REQUEST, answers=1)
    assert len(transport.writes) == 1, transport.writes
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 202 ")
    assert body == b'{"accepted":true}'


@pytest.mark.asyncio
async def test_pipelined_requests_get_one_write_each_in_order() -> None:
    transport = await _serve(REQUEST * 3, answers=3)
    assert len(transport.writes) == 3, transport.writes
    assert all(w.startswith(b"HTTP/1.1 202 ") and w.endswith(b'{"accepted":true}') for w in transport.writes)
