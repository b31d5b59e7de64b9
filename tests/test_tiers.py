"""The test tiers hold: unit tests cannot start processes or servers, integration tests can and are marked."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.tiers import (
    INTEGRATION,
    INTEGRATION_FIXTURES,
    ProcessOrServerStartedError,
    forbid_processes_and_servers,
)


def test_a_unit_test_cannot_start_a_subprocess() -> None:
    # No context manager here: the conftest hook put this test under the guard because it is not integration.
    with pytest.raises(ProcessOrServerStartedError, match="not marked integration"):
        subprocess.run(["true"], check=False)


async def test_a_unit_test_cannot_start_an_asyncio_subprocess() -> None:
    with pytest.raises(ProcessOrServerStartedError):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


async def test_a_unit_test_cannot_serve() -> None:
    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    with pytest.raises(ProcessOrServerStartedError):
        await asyncio.start_server(handle, "127.0.0.1", 0)


def _fork_and_leave() -> int:
    pid = os.fork()
    if pid == 0:  # reached only when the guard is broken: the child leaves at once, before pytest goes on in it
        os._exit(0)
    return pid


async def test_a_unit_test_cannot_fork_or_start_a_dev_server() -> None:
    with pytest.raises(ProcessOrServerStartedError):
        _fork_and_leave()
    with pytest.raises(ProcessOrServerStartedError):
        # The SDK starts the dev server from Rust, past every Python path above: refused at the SDK's door.
        await WorkflowEnvironment.start_local()


def test_binding_a_port_without_listening_stays_allowed() -> None:
    # Free-port helpers bind to port 0 and close again; that starts no server.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))


@pytest.mark.integration
def test_an_integration_test_may_start_a_subprocess() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0


@pytest.mark.integration
def test_the_guard_puts_everything_back() -> None:
    popen, fork, env_start = subprocess.Popen._execute_child, os.fork, vars(WorkflowEnvironment)["start_local"]  # type: ignore[attr-defined]
    with forbid_processes_and_servers():
        pass
    assert subprocess.Popen._execute_child is popen  # type: ignore[attr-defined]
    assert os.fork is fork
    assert vars(WorkflowEnvironment)["start_local"] is env_start
    assert "listen" not in vars(socket.socket)  # the shadow is gone; the C base class's listen shows through


def test_every_test_using_a_starting_fixture_is_marked(request: pytest.FixtureRequest) -> None:
    """What `-m "not integration"` relies on: the marker is on every selected test that uses such a fixture."""
    items = request.session.items
    unmarked = [
        item.nodeid
        for item in items
        if not INTEGRATION_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
        and item.get_closest_marker(INTEGRATION) is None
    ]
    assert not unmarked, unmarked
