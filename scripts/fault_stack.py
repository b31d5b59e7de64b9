"""A stack to hurt on purpose: workers, callback server, service mock (and optionally Temporal) as subprocesses
that can be SIGKILLed by pid and started again.

Used by the reliability scripts (`scripts/reliability/`) and the crash tests (`tests/e2e/test_worker_crash.py`).
Every process runs in its own process group; `kill` sends SIGKILL to that group (the worker dies mid-whatever,
as on an OOM kill or a lost machine), `stop` ends everything this stack started. Nothing else is ever signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.runtime.config import Settings, load_settings
from scripts.processes import ManagedProcess, free_port, loopback_env, start_process, wait_http_ok

# Where each kind of process answers when it is healthy.
_MODULES = {"service_mock": "service_mock", "callback_server": "app.callback_server", "worker": "app.worker"}


def kill(proc: ManagedProcess) -> None:
    """SIGKILL the process group at once: no drain, no cleanup (a crash, not a shutdown)."""
    if proc.alive():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.popen.wait(timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{proc.name} (pid {proc.pid}) survived SIGKILL for 10 s") from exc


@dataclass
class FaultStack:
    """Service mock, callback server and workers against one Temporal, each restartable by name."""

    env: dict[str, str]
    settings: Settings
    log_dir: Path
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    restarts: int = 0

    @property
    def workers(self) -> list[str]:
        return sorted(name for name in self.health if name.startswith("worker"))

    def start(self, name: str, *, wait: bool = True) -> ManagedProcess:
        """Start (or start again) the process called `name` (service_mock, callback_server, worker-N)."""
        kind = "worker" if name.startswith("worker") else name
        old = self.processes.get(name)
        if old is not None and old.alive():
            raise RuntimeError(f"{name} is still running (pid {old.pid})")
        own = dict(self.env)
        if kind == "worker":
            port = self.health[name].rsplit(":", 1)[1].split("/", 1)[0]
            own["WORKER_METRICS_PORT"] = port
        # A fresh log per start keeps the earlier life's log for the post-mortem.
        if old is not None:
            self.restarts += 1
        log_name = name if old is None else f"{name}.{self.restarts}"
        proc = start_process(log_name, [_MODULES[kind]], env=own, log_dir=self.log_dir)
        self.processes[name] = proc
        if wait:
            wait_http_ok(proc, self.health[name], timeout=60.0)
        return proc

    def kill(self, name: str) -> int:
        """SIGKILL one process; returns the pid that died."""
        proc = self.processes[name]
        kill(proc)
        return proc.pid

    def alive(self, name: str) -> bool:
        proc = self.processes.get(name)
        return proc is not None and proc.alive()

    def stop(self) -> None:
        """Stop everything this stack started, by pid: workers first (they drain), the service mock last."""
        order = [*self.workers, "callback_server", "service_mock"]
        for name in order:
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop()


def start_fault_stack(
    temporal_address: str,
    log_dir: Path,
    *,
    task_queue: str,
    signing_secret: str,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
) -> FaultStack:
    """Start the service mock, the callback server and `workers` workers on free ports; wait until healthy."""
    callback_port, service_port = free_port(), free_port()
    env = loopback_env(temporal_address, signing_secret=signing_secret)
    env.update(
        STAGEGATE_TASK_QUEUE=task_queue,
        CALLBACK_PORT=str(callback_port),
        CALLBACK_BASE_URL=f"http://127.0.0.1:{callback_port}",
        SERVICE_PORT=str(service_port),
        SERVICE_URL=f"http://127.0.0.1:{service_port}",
    )
    env.update(extra_env or {})
    settings = load_settings(env)
    stack = FaultStack(env=env, settings=settings, log_dir=log_dir)
    stack.health["service_mock"] = f"{settings.service_url}/healthz"
    stack.health["callback_server"] = f"{settings.callback_base_url}/healthz"
    for i in range(1, workers + 1):
        stack.health[f"worker-{i}"] = f"http://127.0.0.1:{free_port()}/metrics"
    try:
        for name in ["service_mock", "callback_server", *stack.workers]:
            stack.start(name, wait=False)
        for name, url in stack.health.items():
            wait_http_ok(stack.processes[name], url, timeout=60.0)
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class DevServer:
    """A Temporal dev server as a subprocess on its own SQLite file: it can be killed and started again on it."""

    cli: str
    db_file: Path
    port: int
    log_dir: Path
    proc: ManagedProcess | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> None:
        args = [
            self.cli, "server", "start-dev", "--db-filename", str(self.db_file), "--ip", "127.0.0.1",
            "--port", str(self.port), "--headless", "--log-level", "error",
            "--search-attribute", "StagegateStage=Int", "--search-attribute", "StagegateMode=Keyword",
        ]  # fmt: skip
        self.proc = start_process("temporal", args, env=dict(os.environ), log_dir=self.log_dir, python_module=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"temporal exited with {self.proc.popen.returncode}:\n{self.proc.log_tail()}")
            if _port_open(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"temporal not listening on {self.address} after {timeout}s:\n{self.proc.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None:
            kill(self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
