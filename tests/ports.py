"""Ports for what the tests start: the port variables (TEMPORAL_ADDRESS, CALLBACK_PORT, ...) when set, else free ones.

On a machine shared by several people each one sets the port variables to a range of their own; the session's
long-lived servers (the dev server, the stack) then sit on those ports, where everyone can tell whose they are.
A variable's port is handed out once per session and only while nothing listens on it (a `just up` stack on the
same variables keeps its ports; the tests then take free ones). Any further server gets a free port.
"""

from __future__ import annotations

import os
import socket

_claimed: set[str] = set()


def _port_of(name: str, value: str) -> int | None:
    """The port a variable names: TEMPORAL_ADDRESS is host:port, the others a bare port; None when unusable."""
    text = value.rpartition(":")[2] if name == "TEMPORAL_ADDRESS" else value
    try:
        port = int(text)
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _any_free_port() -> int:
    # Not tests.stack's free_port: that module imports this one.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_now(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind: a port whose last connections linger in TIME_WAIT is free to listen on again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_for(name: str) -> int:
    """The port variable `name`'s port the first time it is asked for and free, else a free loopback port."""
    value = os.environ.get(name, "")
    port = _port_of(name, value) if value else None
    if port is None or name in _claimed or not _free_now(port):
        return _any_free_port()
    _claimed.add(name)
    return port
