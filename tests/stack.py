"""Test helpers: the whole stack (service mock, callback server, worker) as subprocesses against a dev server.

The ONE test module that imports `scripts.stack` (an import-linter contract in pyproject.toml holds every other
test module to it; only tests/scripts/ import the script they test). Why share rather than copy: the tests'
stack is started by the very starter that `just up`, the benchmark, the reliability rows and the scale-out use,
so what the tests prove about starting, killing and stopping processes by pid holds for those too, and there is
one process-handling module to keep right instead of two that drift. Test modules import these names from here.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from scripts.stack.asgi_server import serving as serve_asgi
from scripts.stack.dev_server import DevServer, connect
from scripts.stack.processes import (
    ROOT,
    ManagedProcess,
    find_temporal_cli,
    free_port,
    kill,
    loopback_env,
    start_process,
    wait_http_ok,
)
from scripts.stack.runs import RunEnd, wait_activity_started, wait_end, wait_status
from scripts.stack.services import Stack, local_stack
from tests.ports import port_for

__all__ = [
    "FUZZ_SENDER",
    "FUZZ_SENDER_KEY",
    "ROOT",
    "SIGNING_SECRET",
    "DevServer",
    "ManagedProcess",
    "RunEnd",
    "Stack",
    "base_env",
    "connect",
    "find_temporal_cli",
    "free_port",
    "kill",
    "local_stack",
    "serve_asgi",
    "start_process",
    "start_stack",
    "wait_activity_started",
    "wait_end",
    "wait_http_ok",
    "wait_status",
]

# One secret per test session; tests that sign callback URLs themselves get it through the `settings` fixture.
SIGNING_SECRET = "test-secret-" + uuid.uuid4().hex
FUZZ_SENDER = "fuzz"
FUZZ_SENDER_KEY = "whsec_" + base64.b64encode(uuid.uuid4().bytes).decode()


def base_env(temporal_address: str) -> dict[str, str]:
    """Environment for our subprocesses: the test's dev server, the session's test secret, JSON logs.

    Quick service-mock heartbeats and retries keep tests short; every workflow task replays history, and a
    determinism bug fails the workflow instead of hiding (see `scripts.stack.processes.loopback_env`).
    """
    env = loopback_env(temporal_address, signing_secret=SIGNING_SECRET)
    env.update(_fuzz_sender())
    return env


def _fuzz_sender() -> dict[str, str]:
    # A body-signing sender, so URLs that name it exercise the body-signature checks (tests/app fuzzing).
    return {"CALLBACK_WEBHOOK_SENDERS": f"{FUZZ_SENDER}={FUZZ_SENDER_KEY}"}


def start_stack(
    temporal_address: str,
    log_dir: Path,
    *,
    task_queue: str,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Service mock, callback server and `workers` workers (worker-1, ...); each healthy on return.

    On the ports of CALLBACK_PORT, SERVICE_PORT and WORKER_METRICS_PORT when set and free (tests/ports.py), else free.
    """
    return local_stack(
        temporal_address,
        log_dir,
        task_queue=task_queue,
        signing_secret=SIGNING_SECRET,
        workers=workers,
        extra_env={**_fuzz_sender(), **(extra_env or {})},
        port_for=port_for,
    )
