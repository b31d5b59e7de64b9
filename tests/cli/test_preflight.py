"""`cli start`'s preflight against real HTTP peers on loopback: a service that is up but unhealthy, or that does
not speak HTTP, is one line naming it, and nothing is started (Temporal is not even needed to say so)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli.runner import run_cli
from tests.stack import base_env, free_port

# Each test serves on a socket of its own and runs `cli` as a subprocess.
pytestmark = pytest.mark.integration


class _Unhealthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # the base class names it `format`
        pass


@contextmanager
def _http_503() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unhealthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def _not_http() -> Iterator[str]:
    """A TCP peer that answers every connection with a line that is not an HTTP status line."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:  # closed by the test, or nobody came within the timeout
            return
        with conn:
            conn.recv(4096)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=35)


@pytest.mark.parametrize(
    ("peer", "needle"),
    [(_http_503, "answered 503 to /healthz"), (_not_http, "is not reachable (NoHttpAnswerError)")],
)
def test_unhealthy_or_non_http_service_is_one_line(
    peer: Callable[[], AbstractContextManager[str]], needle: str
) -> None:
    # Temporal is "down" (nobody on the port): the preflight answers first, so the error names the service.
    env = base_env(f"127.0.0.1:{free_port()}")
    with peer() as url:
        done = run_cli("start", "--no-wait", env=env | {"SERVICE_URL": url})
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: the service at {url} ")
    assert needle in lines[0]
