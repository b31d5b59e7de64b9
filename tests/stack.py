"""Test helpers: the whole stack (service mock, callback server, worker) as subprocesses against a dev server."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.runtime.config import Settings, load_settings
from scripts.processes import ManagedProcess, free_port, loopback_env, start_process, wait_http_ok

# One secret per test session; tests that sign callback URLs themselves get it through the `settings` fixture.
SIGNING_SECRET = "test-secret-" + uuid.uuid4().hex
FUZZ_SENDER = "fuzz"
FUZZ_SENDER_KEY = "whsec_" + base64.b64encode(uuid.uuid4().bytes).decode()


def base_env(temporal_address: str) -> dict[str, str]:
    """Environment for our subprocesses: the test's dev server, the session's test secret, JSON logs.

    Quick service-mock heartbeats and retries keep tests short; every workflow task replays history, and a
    determinism bug fails the workflow instead of hiding (see `scripts.processes.loopback_env`).
    """
    env = loopback_env(temporal_address, signing_secret=SIGNING_SECRET)
    # A body-signing sender, so URLs that name it exercise the body-signature checks (tests/app fuzzing).
    env["CALLBACK_WEBHOOK_SENDERS"] = f"{FUZZ_SENDER}={FUZZ_SENDER_KEY}"
    return env


@dataclass(frozen=True)
class Stack:
    """The whole stack as subprocesses against the session's dev server."""

    settings: Settings
    env: dict[str, str]
    processes: dict[str, ManagedProcess]

    @property
    def callback_url(self) -> str:
        return self.settings.callback_base_url

    @property
    def service_url(self) -> str:
        return self.settings.service_url

    def stop(self) -> None:
        """Stop every process by pid, the worker first (it drains), the service mock last."""
        for proc in reversed(list(self.processes.values())):
            proc.stop()


def start_stack(temporal_address: str, log_dir: Path, *, task_queue: str) -> Stack:
    """Start service mock, callback server and worker; wait until each is healthy."""
    callback_port, service_port, metrics_port = free_port(), free_port(), free_port()
    env = base_env(temporal_address)
    env.update(
        STAGEGATE_TASK_QUEUE=task_queue,
        CALLBACK_PORT=str(callback_port),
        CALLBACK_BASE_URL=f"http://127.0.0.1:{callback_port}",
        SERVICE_PORT=str(service_port),
        SERVICE_URL=f"http://127.0.0.1:{service_port}",
        WORKER_METRICS_PORT=str(metrics_port),
    )
    settings = load_settings(env)
    processes: dict[str, ManagedProcess] = {}
    try:
        processes["service_mock"] = start_process("service_mock", ["service_mock"], env=env, log_dir=log_dir)
        processes["callback_server"] = start_process(
            "callback_server", ["app.callback_server"], env=env, log_dir=log_dir
        )
        processes["worker"] = start_process("worker", ["app.worker"], env=env, log_dir=log_dir)
        wait_http_ok(processes["service_mock"], f"{settings.service_url}/healthz")
        wait_http_ok(processes["callback_server"], f"{settings.callback_base_url}/healthz")
        wait_http_ok(processes["worker"], f"http://127.0.0.1:{metrics_port}/metrics")
    except BaseException:
        for proc in reversed(list(processes.values())):
            proc.stop()
        raise
    return Stack(settings=settings, env=env, processes=processes)
