"""Our own processes of a stack: service mock, callback server(s) and worker(s) on given ports, each restartable.

The one starter behind the tests' stack (`tests/stack.py`), the reliability lab, the benchmark, the scale-out and
the hostile-input row: each says which processes on which ports with which variables (a `ProcessSpec` per name),
`start_stack` starts them all and waits until each answers its health URL, and `Stack.stop` stops them by pid.
Every process runs in its own process group; `kill` sends SIGKILL to that group (the worker dies mid-whatever, as
on an OOM kill or a lost machine) and `start` brings it back with the same ports. Nothing else is ever signalled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.runtime.config import Settings, load_settings
from scripts.stack.processes import ManagedProcess, free_port, kill, loopback_env, start_process, wait_http_ok

SERVICE_MOCK = "service_mock"
CALLBACK_SERVER = "app.callback_server"
WORKER = "app.worker"
# A busy machine (2 cores shared with other work) can take a while to import and start a Python process.
HEALTH_TIMEOUT = 120.0


@dataclass(frozen=True)
class ProcessSpec:
    """One process: `python -m module` with the stack's variables plus its own, healthy once `health_url` is 2xx."""

    module: str
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)


def service_mock(port: int, env: Mapping[str, str] | None = None) -> ProcessSpec:
    return ProcessSpec(SERVICE_MOCK, f"http://127.0.0.1:{port}/healthz", {"SERVICE_PORT": str(port), **(env or {})})


def callback_server(port: int, env: Mapping[str, str] | None = None) -> ProcessSpec:
    return ProcessSpec(CALLBACK_SERVER, f"http://127.0.0.1:{port}/healthz", {"CALLBACK_PORT": str(port), **(env or {})})


def worker(metrics_port: int, env: Mapping[str, str] | None = None) -> ProcessSpec:
    """A worker; its Prometheus endpoint is its health URL (it answers once the worker runs)."""
    own = {"WORKER_METRICS_PORT": str(metrics_port), **(env or {})}
    return ProcessSpec(WORKER, f"http://127.0.0.1:{metrics_port}/metrics", own)


@dataclass
class Stack:
    """Named processes against one Temporal, started from their specs, each restartable by name."""

    env: dict[str, str]  # what every process gets (each spec adds its own)
    log_dir: Path
    specs: dict[str, ProcessSpec]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    restarts: int = 0

    @property
    def settings(self) -> Settings:
        """The stack's common settings (task queue, callback base URL, service URL) as the processes read them."""
        return load_settings(self.env)

    @property
    def callback_url(self) -> str:
        return self.settings.callback_base_url

    @property
    def service_url(self) -> str:
        return self.settings.service_url

    @property
    def workers(self) -> list[str]:
        return [name for name, spec in self.specs.items() if spec.module == WORKER]

    def pids(self) -> dict[str, int]:
        """Process name -> pid of each process started so far."""
        return {name: proc.pid for name, proc in self.processes.items()}

    def start(self, name: str, *, wait: bool = True, timeout: float = HEALTH_TIMEOUT) -> ManagedProcess:
        """Start (or start again) the process called `name`, on the ports of its spec."""
        spec = self.specs[name]
        old = self.processes.get(name)
        if old is not None and old.alive():
            raise RuntimeError(f"{name} is still running (pid {old.pid})")
        # A fresh log per start keeps the earlier life's log for the post-mortem.
        if old is not None:
            self.restarts += 1
        log_name = name if old is None else f"{name}.{self.restarts}"
        proc = start_process(log_name, [spec.module], env={**self.env, **spec.env}, log_dir=self.log_dir)
        self.processes[name] = proc
        if wait:
            wait_http_ok(proc, spec.health_url, timeout=timeout)
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
        """Stop everything this stack started, by pid, in reverse order of the specs (workers drain first)."""
        for name in reversed(list(self.specs)):
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop()


def start_stack(
    env: Mapping[str, str], log_dir: Path, specs: Mapping[str, ProcessSpec], *, timeout: float = HEALTH_TIMEOUT
) -> Stack:
    """Start every process of `specs` (in order, all at once) and wait until each is healthy.

    On any failure everything already started is stopped before the error goes on.
    """
    stack = Stack(env=dict(env), log_dir=log_dir, specs=dict(specs))
    try:
        for name in stack.specs:
            stack.start(name, wait=False)
        for name, spec in stack.specs.items():
            wait_http_ok(stack.processes[name], spec.health_url, timeout=timeout)
    except BaseException:
        stack.stop()
        raise
    return stack


def local_stack(
    temporal_address: str,
    log_dir: Path,
    *,
    task_queue: str,
    signing_secret: str,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
    port_for: Callable[[str], int] | None = None,
) -> Stack:
    """The usual stack on loopback: service mock, callback server, `workers` workers (worker-1, ...).

    `port_for(variable)` picks the port for CALLBACK_PORT, SERVICE_PORT and each WORKER_METRICS_PORT (the tests
    honour the caller's port variables through it); without it every port is a free one.
    """
    pick = port_for or (lambda _variable: free_port())
    callback_port, service_port = pick("CALLBACK_PORT"), pick("SERVICE_PORT")
    env = loopback_env(temporal_address, signing_secret=signing_secret)
    env.update(
        STAGEGATE_TASK_QUEUE=task_queue,
        CALLBACK_PORT=str(callback_port),
        CALLBACK_BASE_URL=f"http://127.0.0.1:{callback_port}",
        SERVICE_PORT=str(service_port),
        SERVICE_URL=f"http://127.0.0.1:{service_port}",
    )
    env.update(extra_env or {})
    specs = {"service_mock": service_mock(service_port), "callback_server": callback_server(callback_port)}
    specs.update({f"worker-{i}": worker(pick("WORKER_METRICS_PORT")) for i in range(1, workers + 1)})
    return start_stack(env, log_dir, specs)
