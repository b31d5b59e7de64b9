"""The callback server's connections over raw sockets: slow clients are cut off, the connection cap answers 503,
and whatever the HTTP parser refuses gets a 400 with the JSON error body (never plain text, never 5xx).

The real `python -m app.callback_server` with short deadlines; Temporal is not needed (nothing reaches it).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import ManagedProcess, free_port, start_process, wait_http_ok

pytestmark = pytest.mark.integration  # a real callback server subprocess, raw sockets

WAIT_S = 30.0  # generous: the deadlines below are 1 s; this only bounds a test that would otherwise hang


def _server(log_dir: Path, **extra: str) -> tuple[ManagedProcess, int]:
    port = free_port()
    prefixes = ("TEMPORAL_", "CALLBACK_", "SERVICE_", "STAGEGATE_", "WORKER_", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        CALLBACK_SIGNING_SECRETS="connections-test-secret-0123456789abcdef",
        CALLBACK_PORT=str(port),
        TEMPORAL_ADDRESS="127.0.0.1:1",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    proc = start_process("callback_server", ["app.callback_server"], env=env, log_dir=log_dir)
    try:
        wait_http_ok(proc, f"http://127.0.0.1:{port}/healthz", timeout=60)
    except Exception:
        proc.stop()
        raise
    return proc, port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Deadlines of 1 s for head and body."""
    proc, port = _server(
        tmp_path_factory.mktemp("conn"),
        CALLBACK_HEADER_TIMEOUT="1",
        CALLBACK_BODY_TIMEOUT="1",
        CALLBACK_MAX_HEADER_BYTES="4096",
    )
    try:
        yield port
    finally:
        proc.stop()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    sock.settimeout(WAIT_S)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (bounded by the socket timeout)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _read_one(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One complete answer with a Content-Length, on a connection that stays open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    status, headers, body = _answer(raw)
    size = int(headers["content-length"])
    while len(body) < size:
        body += sock.recv(65536)
    return status, headers, body[:size]  # a pipelined next answer may follow in the same read


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


# --- Slow clients ---------------------------------------------------------------------------------------------


def test_a_half_sent_header_is_closed(server: int) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /callbacks/signal?wf=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        assert _read_all(sock) == b""  # closed, without an answer


def test_a_header_trickled_byte_by_byte_is_still_closed(server: int) -> None:
    """Each byte arriving does not extend the deadline: the whole head has one."""
    request = b"POST /callbacks/signal HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: " + b"a" * 500
    closed = False
    with _connect(server) as sock:
        sock.settimeout(0.2)
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue  # nothing from the server yet: still open
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
    assert closed, "the server kept a connection open while its head trickled in for 100 s"


def test_a_half_sent_body_is_closed(server: int) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /callbacks/signal?wf=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"status": '
        )
        raw = _read_all(sock)
    # Closed without reading the rest; whatever was written before (nothing, or the app's answer) is not 5xx.
    assert raw == b"" or _answer(raw)[0] < 500


def test_a_kept_alive_connection_gets_a_fresh_header_deadline(server: int) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_one(sock)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 12")  # the next request, half sent
        assert _read_all(sock) == b""


def test_the_connection_cap_answers_503_json(tmp_path: Path) -> None:
    proc, port = _server(tmp_path, CALLBACK_MAX_CONNECTIONS="3", CALLBACK_HEADER_TIMEOUT="120")
    held: list[socket.socket] = []
    try:
        held = [_connect(port) for _ in range(3)]
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # heads never finished: they stay
        with _connect(port) as extra:
            status, headers, body = _answer(_read_all(extra))
        assert status == 503
        assert headers["content-type"] == "application/json"
        assert headers["retry-after"] == "5"
        assert json.loads(body) == {
            "error": "too_many_connections",
            "message": "the callback server holds its maximum of 3 connections; retry later",
            "status_code": 503,
        }
    finally:
        for sock in held:
            sock.close()
        proc.stop()


# --- What the HTTP parser refuses: 400 with the JSON error body --------------------------------------------------

MALFORMED = {
    "non-ASCII request line": "POST /callbacks/signal?wf=é HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "non-ASCII method": "PÖST / HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "no HTTP version": b"POST /callbacks/signal\r\nHost: x\r\n\r\n",
    "garbage request line": b"\x00\x01\x02 hello\r\n\r\n",
    "bad chunk size": (
        b"POST /callbacks/signal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
    "bad content-length": b"POST /callbacks/signal HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    "two content-lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "missing host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "header without colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n",
    # h11 measures what it holds unparsed: a head over the cap that is still incomplete (a whole head that
    # arrives at once is parsed; its size is then bounded by the socket read, 64 KiB).
    "head over the size cap": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000,
    "unsupported transfer-encoding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "TLS client hello": bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40,
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_what_the_parser_refuses_gets_a_json_400(server: int, raw: bytes) -> None:
    with _connect(server) as sock:
        sock.sendall(raw)
        status, headers, body = _answer(_read_all(sock))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": "malformed_request",
        "message": "the request is not valid HTTP/1.1 (request line, headers or chunked framing), or its head is "
        "too large",
        "status_code": 400,
    }


PARSEABLE_BUT_ODD = {
    "HTTP/2 preface (parsed as method PRI)": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "WebSocket upgrade": (
        b"GET /callbacks/signal HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ),
    "absolute-form target": b"GET http://evil.example/healthz/../schema HTTP/1.1\r\nHost: x\r\n\r\n",
    "percent-encoded garbage": b"POST /callbacks/%ff%00signal HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("raw", list(PARSEABLE_BUT_ODD.values()), ids=list(PARSEABLE_BUT_ODD))
def test_odd_requests_the_parser_takes_get_a_json_4xx_from_the_app(server: int, raw: bytes) -> None:
    with _connect(server) as sock:
        sock.sendall(raw)
        status, headers, body = _read_one(sock)
    assert 400 <= status < 500
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"error", "message", "status_code"}


def test_the_server_still_answers_after_all_that(server: int) -> None:
    deadline = time.monotonic() + WAIT_S
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body = _answer(_read_all(sock))
    assert time.monotonic() < deadline
    assert (status, json.loads(body)) == (200, {"status": "ok"})
