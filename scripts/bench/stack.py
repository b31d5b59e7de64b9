"""The benchmark's own stack: a dev server, workers, a callback server and the service mock as real subprocesses.

Everything listens on free loopback ports and is stopped by pid when the benchmark ends. Two workers on two task
queues: one hands its stage requests to the benchmark's own stub service (the bench fires every callback itself,
so it knows the callback moment exactly), the other to the real service mock (the end-to-end figure).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scripts.processes import ManagedProcess, find_temporal_cli, free_port, loopback_env, start_process, wait_http_ok

STUB_TASK_QUEUE = "bench-stub"
# A busy machine (2 cores shared with other work) can take a while to import and start a Python process.
HEALTH_TIMEOUT = 120.0
E2E_TASK_QUEUE = "bench-e2e"


class StackStartError(RuntimeError):
    """A process of the benchmark's stack did not start; everything already started has been stopped."""


@dataclass(frozen=True)
class StackOptions:
    """What the benchmark's processes are started with (the knobs a tuning comparison turns)."""

    stub_service_url: str
    worker_env: Mapping[str, str]  # extra variables for both workers (e.g. WORKER_MAX_CACHED_WORKFLOWS)
    log_level: str = "INFO"
    with_e2e: bool = True
    callback_env: Mapping[str, str] = field(default_factory=dict)  # callback server A's extra variables
    callback_b_env: Mapping[str, str] | None = None  # when set: start callback server B with these


@dataclass(frozen=True)
class BenchStack:
    """The running processes and where to reach them."""

    temporal_address: str
    callback_base_url: str
    service_url: str
    callback_b_url: str | None
    signing_secret: str
    processes: dict[str, ManagedProcess]

    def pids(self) -> dict[str, int]:
        """Process name -> pid (the measured processes)."""
        return {name: proc.pid for name, proc in self.processes.items()}

    def stop(self) -> None:
        """Stop every process by pid: workers first (they drain), the dev server last."""
        for proc in reversed(list(self.processes.values())):
            proc.stop()


def dev_server_command(temporal_cli: str, port: int) -> list[str]:
    """`temporal server start-dev` in memory, without the Web UI, with our search attributes registered."""
    return [
        temporal_cli,
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--headless",
        "--search-attribute",
        "StagegateStage=Int",
        "--search-attribute",
        "StagegateMode=Keyword",
        "--log-level",
        "error",
    ]


async def start_bench_stack(log_dir: Path, options: StackOptions) -> BenchStack:
    """Start every process and wait until each answers; on any failure stop what already runs."""
    temporal_port, callback_port, callback_b_port, service_port = free_port(), free_port(), free_port(), free_port()
    address = f"127.0.0.1:{temporal_port}"
    secret = secrets.token_hex(32)
    env = loopback_env(address, signing_secret=secret)
    # A benchmark measures what users run: the worker cache and Temporal's determinism policy at their defaults.
    env.pop("WORKER_MAX_CACHED_WORKFLOWS", None)
    env.pop("WORKER_FAIL_ON_NONDETERMINISM", None)
    env.update(
        LOG_LEVEL=options.log_level,
        CALLBACK_PORT=str(callback_port),
        CALLBACK_BASE_URL=f"http://127.0.0.1:{callback_port}",
        SERVICE_PORT=str(service_port),
        **options.worker_env,
    )
    processes: dict[str, ManagedProcess] = {}
    health: dict[str, str] = {}
    try:
        processes["temporal"] = start_process(
            "temporal",
            dev_server_command(find_temporal_cli(), temporal_port),
            env=env,
            log_dir=log_dir,
            python_module=False,
        )
        await asyncio.to_thread(_wait_port, processes["temporal"], temporal_port)
        processes["callback_server"] = start_process(
            "callback_server", ["app.callback_server"], env={**env, **options.callback_env}, log_dir=log_dir
        )
        health["callback_server"] = f"http://127.0.0.1:{callback_port}/healthz"
        if options.callback_b_env is not None:
            b_env = {**env, "CALLBACK_PORT": str(callback_b_port), **options.callback_b_env}
            processes["callback_server_b"] = start_process(
                "callback_server_b", ["app.callback_server"], env=b_env, log_dir=log_dir
            )
            health["callback_server_b"] = f"http://127.0.0.1:{callback_b_port}/healthz"
        workers = {"worker": (STUB_TASK_QUEUE, options.stub_service_url)}
        if options.with_e2e:
            processes["service_mock"] = start_process("service_mock", ["service_mock"], env=env, log_dir=log_dir)
            health["service_mock"] = f"http://127.0.0.1:{service_port}/healthz"
            workers["worker_e2e"] = (E2E_TASK_QUEUE, f"http://127.0.0.1:{service_port}")
        for name, (queue, service_url) in workers.items():
            metrics = free_port()
            own = {
                **env,
                "STAGEGATE_TASK_QUEUE": queue,
                "SERVICE_URL": service_url,
                "WORKER_METRICS_PORT": str(metrics),
            }
            processes[name] = start_process(name, ["app.worker"], env=own, log_dir=log_dir)
            health[name] = f"http://127.0.0.1:{metrics}/metrics"
        await asyncio.gather(
            *(asyncio.to_thread(wait_http_ok, processes[n], url, timeout=HEALTH_TIMEOUT) for n, url in health.items())
        )
    except BaseException as err:
        for proc in reversed(list(processes.values())):
            proc.stop()
        if isinstance(err, RuntimeError):
            first_line = str(err).splitlines()[0]
            raise StackStartError(f"{first_line} (logs in {log_dir})") from err
        raise
    return BenchStack(
        temporal_address=address,
        callback_base_url=f"http://127.0.0.1:{callback_port}",
        service_url=f"http://127.0.0.1:{service_port}",
        callback_b_url=f"http://127.0.0.1:{callback_b_port}" if options.callback_b_env is not None else None,
        signing_secret=secret,
        processes=processes,
    )


def _wait_port(proc: ManagedProcess, port: int, timeout: float = HEALTH_TIMEOUT) -> None:
    """The dev server is up once its gRPC port accepts connections (it has no HTTP health endpoint here)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout}s:\n{proc.log_tail()}")
