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

from scripts.stack.dev_server import DevServer
from scripts.stack.processes import ManagedProcess, find_temporal_cli, free_port, loopback_env
from scripts.stack.services import (
    HEALTH_TIMEOUT,
    ProcessSpec,
    Stack,
    callback_server,
    service_mock,
    start_stack,
    worker,
)

STUB_TASK_QUEUE = "bench-stub"
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
    # A running Temporal (host:port, search attributes registered, e.g. `just cluster-up`'s) instead of a dev server.
    temporal_address: str | None = None


@dataclass(frozen=True)
class BenchStack:
    """The running processes and where to reach them."""

    temporal_address: str
    callback_base_url: str
    service_url: str
    callback_b_url: str | None
    signing_secret: str
    server: DevServer | None  # None: a Temporal the bench did not start
    stack: Stack

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """Every measured process by name, the dev server first."""
        if self.server is None:
            return dict(self.stack.processes)
        assert self.server.proc is not None
        return {"temporal": self.server.proc, **self.stack.processes}

    def pids(self) -> dict[str, int]:
        """Process name -> pid (the measured processes)."""
        return {name: proc.pid for name, proc in self.processes.items()}

    def stop(self) -> None:
        """Stop every process by pid: workers first (they drain), the dev server last."""
        self.stack.stop()
        if self.server is not None:
            self.server.stop()


async def start_bench_stack(log_dir: Path, options: StackOptions) -> BenchStack:
    """Start every process and wait until each answers; on any failure stop what already runs."""
    temporal_port, callback_port, callback_b_port, service_port = free_port(), free_port(), free_port(), free_port()
    server = (
        DevServer(cli=find_temporal_cli(), port=temporal_port, log_dir=log_dir)
        if options.temporal_address is None
        else None
    )
    address = server.address if server is not None else str(options.temporal_address)
    secret = secrets.token_hex(32)
    env = loopback_env(address, signing_secret=secret)
    # A benchmark measures what users run: the worker cache and Temporal's determinism policy at their defaults.
    env.pop("WORKER_MAX_CACHED_WORKFLOWS", None)
    env.pop("WORKER_FAIL_ON_NONDETERMINISM", None)
    env.update(
        LOG_LEVEL=options.log_level,
        CALLBACK_BASE_URL=f"http://127.0.0.1:{callback_port}",
        **options.worker_env,
    )
    specs: dict[str, ProcessSpec] = {"callback_server": callback_server(callback_port, options.callback_env)}
    if options.callback_b_env is not None:
        specs["callback_server_b"] = callback_server(callback_b_port, options.callback_b_env)
    queues = {"worker": (STUB_TASK_QUEUE, options.stub_service_url)}
    if options.with_e2e:
        specs["service_mock"] = service_mock(service_port)
        queues["worker_e2e"] = (E2E_TASK_QUEUE, f"http://127.0.0.1:{service_port}")
    for name, (queue, service_url) in queues.items():
        specs[name] = worker(free_port(), {"STAGEGATE_TASK_QUEUE": queue, "SERVICE_URL": service_url})
    try:
        if server is not None:
            await asyncio.to_thread(server.start, timeout=HEALTH_TIMEOUT)
        try:
            stack = await asyncio.to_thread(start_stack, env, log_dir, specs)
        except BaseException:
            if server is not None:
                server.stop()
            raise
    except RuntimeError as err:
        first_line = str(err).splitlines()[0]
        raise StackStartError(f"{first_line} (logs in {log_dir})") from err
    return BenchStack(
        temporal_address=address,
        callback_base_url=f"http://127.0.0.1:{callback_port}",
        service_url=f"http://127.0.0.1:{service_port}",
        callback_b_url=f"http://127.0.0.1:{callback_b_port}" if options.callback_b_env is not None else None,
        signing_secret=secret,
        server=server,
        stack=stack,
    )
