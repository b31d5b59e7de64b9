"""scripts/devstack.py for real: free ports, a temporary state dir, the pid files hold the listening processes.

`up`, a SIGKILLed worker, `up` again, a lost pid file, then `down` must leave no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack import ROOT, free_port

PYTHON_SERVICES = {"worker": "app.worker", "callback_server": "app.callback_server", "service_mock": "service_mock"}

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


@dataclass(frozen=True)
class Ports:
    grpc: int
    ui: int
    worker: int
    callback_server: int
    service_mock: int

    def of(self, name: str) -> int:
        return self.grpc if name == "temporal" else int(getattr(self, name))

    def all(self) -> list[int]:
        return [self.grpc, self.ui, self.worker, self.callback_server, self.service_mock]


def _listen_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def _listeners(port: int) -> set[int]:
    """Pids (that we may inspect) holding a socket that listens on `port`."""
    wanted = {f"socket:[{inode}]" for inode in _listen_inodes(port)}
    pids: set[int] = set()
    if not wanted:
        return pids
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    pids.add(int(entry.name))
                    break
            except OSError:
                continue
    return pids


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


class Devstack:
    """Runs `python -m scripts.devstack` (as `just up` does) with its own state dir and ports; remembers pids seen."""

    def __init__(self, state_dir: Path, ports: Ports, env: dict[str, str]) -> None:
        self.state_dir = state_dir
        self.ports = ports
        self.env = env
        self.seen: set[int] = set()

    def run(self, command: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scripts.devstack", "--state-dir", str(self.state_dir), command],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> str:
        done = self.run("up")
        assert done.returncode == 0, f"up failed:\n{done.stdout}\n{done.stderr}\n{self.logs()}"
        self.note()
        return done.stdout

    def pid(self, name: str) -> int:
        return int((self.state_dir / "pids" / f"{name}.pid").read_text().strip())

    def note(self) -> None:
        for port in self.ports.all():
            self.seen |= _listeners(port)
        for pid_file in (self.state_dir / "pids").glob("*.pid"):
            self.seen.add(int(pid_file.read_text().strip()))

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in self.state_dir.glob("logs/*")
        )

    def leftovers(self) -> dict[int, list[str]]:
        self.note()
        return {pid: _cmdline(pid) for pid in sorted(self.seen) if _alive(pid)}


@pytest.fixture
def devstack(tmp_path: Path, temporal_cli: str) -> Iterator[Devstack]:
    ports = Ports(free_port(), free_port(), free_port(), free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "CALLBACK_", "SERVICE_", "WORKER_"))}
    env.update(
        TEMPORAL_CLI=temporal_cli,
        TEMPORAL_ADDRESS=f"127.0.0.1:{ports.grpc}",
        TEMPORAL_UI_PORT=str(ports.ui),
        WORKER_METRICS_PORT=str(ports.worker),
        CALLBACK_PORT=str(ports.callback_server),
        SERVICE_PORT=str(ports.service_mock),
        SERVICE_URL=f"http://127.0.0.1:{ports.service_mock}",
        STAGEGATE_TASK_QUEUE=f"devstack-{ports.grpc}",
        LOG_FORMAT="json",
    )
    stack = Devstack(tmp_path / "state", ports, env)
    try:
        yield stack
    finally:
        stack.run("down", timeout=60)
        for pid in stack.leftovers():  # only pids this test's stack started (seen in its pid files or ports)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_pid_files_hold_the_listening_processes_and_down_leaves_nothing(devstack: Devstack) -> None:
    # No CALLBACK_SIGNING_SECRETS here: the stack runs in development mode, and says so.
    assert "development mode (STAGEGATE_DEV_MODE=1)" in devstack.up()
    for name in ("temporal", *PYTHON_SERVICES):
        pid = devstack.pid(name)
        cmdline = _cmdline(pid)
        assert Path(cmdline[0]).name != "uv", (name, cmdline)
        if name in PYTHON_SERVICES:
            assert cmdline[1:3] == ["-m", PYTHON_SERVICES[name]], (name, cmdline)
        assert pid in _listeners(devstack.ports.of(name)), (name, pid, cmdline)

    # A crash: the worker dies without any cleanup. `up` brings back exactly that one.
    worker = devstack.pid("worker")
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)
    before = {name: devstack.pid(name) for name in ("temporal", "callback_server", "service_mock")}
    devstack.up()
    assert devstack.pid("worker") != worker
    assert devstack.pid("worker") in _listeners(devstack.ports.worker)
    assert {name: devstack.pid(name) for name in before} == before

    # Lost bookkeeping: a pid file is gone while its process still runs. `up` and `down` still find it.
    orphan = devstack.pid("service_mock")
    (devstack.state_dir / "pids" / "service_mock.pid").unlink()
    devstack.up()
    assert not _alive(orphan)  # replaced by a fresh one, not left holding the port
    assert devstack.pid("service_mock") in _listeners(devstack.ports.service_mock)
    (devstack.state_dir / "pids" / "callback_server.pid").unlink()

    done = devstack.run("down", timeout=90)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert devstack.leftovers() == {}, done.stdout
    assert not any(_listen_inodes(port) for port in devstack.ports.all())
    assert not list((devstack.state_dir / "pids").glob("*.pid"))
