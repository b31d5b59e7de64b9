"""Fixtures for the service mock tests: one service and one callback receiver server per module, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from tests.service_mock.harness import CallbackReceiver, ReceiverHub, RunningService, running_hub, running_service

# Servers are shared per module (starting and stopping uvicorn dominates otherwise); tests stay independent
# because every test gets its own callback endpoint and its own idempotency keys.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> AsyncIterator[RunningService]:
    async with running_service() as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub() -> AsyncIterator[ReceiverHub]:
    async with running_hub() as running:
        yield running


@pytest.fixture
def receiver(hub: ReceiverHub) -> CallbackReceiver:
    return hub.endpoint()


@pytest.fixture
def make_receiver(hub: ReceiverHub) -> Callable[[], CallbackReceiver]:
    """More endpoints on demand (a retried activity calls back on a different URL)."""
    return hub.endpoint
