"""Test tiers: which tests are `integration` (start a server or a subprocess), and the guard that keeps the rest pure.

A test is `integration` when it asks for a fixture that starts something (the dev server, the stack, a service
mock on a socket) or carries the marker itself because its body starts a process or serves HTTP. Everything
else must not, and `forbid_processes_and_servers` makes that a checked rule rather than a convention: while an
unmarked test sets up and runs, starting a subprocess, forking, listening on a socket or starting a Temporal dev
server raises `ProcessOrServerStartedError`. So `just test-fast` (`-m "not slow and not cluster and not
integration"`) stays fast by construction, and a new test that forgets the marker fails in `just test` (CI) with
a message that says why.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

INTEGRATION = "integration"

# Fixtures that start a server or a subprocess, directly or through another fixture (pytest's fixture closure
# already contains the fixtures a fixture depends on, so `settings` -> `temporal_address` -> `workflow_env` is
# caught by its last link; the middle links are listed so the set reads as the answer to "what starts things").
INTEGRATION_FIXTURES = frozenset(
    {
        "temporal_cli",  # the Temporal CLI binary: a test that asks for it runs it
        "workflow_env",  # the session's Temporal dev server (a subprocess)
        "client",
        "temporal_address",
        "settings",
        "stack",  # service mock, callback server and worker as subprocesses
        "service",  # tests/service_mock: the service mock on a real socket
        "hub",  # tests/service_mock: callback receivers on a real socket
        "receiver",
        "make_receiver",
    }
)


class ProcessOrServerStartedError(RuntimeError):
    """A test outside the integration tier started a subprocess or a server."""


def is_integration(item: pytest.Item) -> bool:
    """True when `item` carries the marker or uses a fixture that starts a server or a subprocess."""
    if item.get_closest_marker(INTEGRATION) is not None:
        return True
    return not INTEGRATION_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def mark_integration_tests(items: list[pytest.Item]) -> None:
    """Add the `integration` marker to every item that starts something, so `-m` can select on it."""
    for item in items:
        if item.get_closest_marker(INTEGRATION) is None and is_integration(item):
            item.add_marker(INTEGRATION)


def _refuse_listen(sock: socket.socket, *_args: object) -> None:
    # Closed first: the server that asked would otherwise leak it, and its ResourceWarning would fail a later test.
    sock.close()
    _refuse("listened on a socket (started a server)")()


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise ProcessOrServerStartedError(
            f"this test {what} but is not marked integration: add `pytestmark = pytest.mark.integration` "
            "(or @pytest.mark.integration), or use a fixture from tests/tiers.py INTEGRATION_FIXTURES"
        )

    return refuse


@contextmanager
def forbid_processes_and_servers() -> Iterator[None]:
    """While inside, starting a subprocess, forking, listening on a socket or a Temporal dev server raises.

    Patched where every path ends: `Popen._execute_child` (subprocess.run, asyncio subprocesses), `os.fork` and
    `os.posix_spawn*` (multiprocessing and friends), `socket.listen` (uvicorn, asyncio servers, http.server; a
    bare `bind`, as free-port helpers do, stays allowed), and the SDK's own dev/test-server starters, which
    spawn from Rust and so pass none of the Python paths.
    """
    patches: list[tuple[object, str, Callable[..., Any]]] = [
        (subprocess.Popen, "_execute_child", _refuse("started a subprocess")),
        (socket.socket, "listen", _refuse_listen),
        (WorkflowEnvironment, "start_local", _refuse("started a Temporal dev server")),
        (WorkflowEnvironment, "start_time_skipping", _refuse("started a Temporal test server")),
    ]
    for name in ("fork", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            patches.append((os, name, _refuse(f"called os.{name}")))
    with ExitStack() as undo:
        for owner, name, replacement in patches:
            own = vars(owner)
            if name in own:
                # The raw attribute (a classmethod/staticmethod stays one), put back as it was.
                undo.callback(setattr, owner, name, own[name])
            else:
                # Inherited (socket.socket.listen lives on the C base class): shadow it, then remove the shadow.
                undo.callback(delattr, owner, name)
            setattr(owner, name, replacement)
        yield
