"""Fixtures for the service mock tests: one service and callback receivers, all on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from tests.service_mock.harness import CallbackReceiver, RunningService, running_receiver, running_service


@pytest_asyncio.fixture
async def service() -> AsyncIterator[RunningService]:
    async with running_service() as running:
        yield running


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with running_receiver() as running:
        yield running


@pytest_asyncio.fixture
async def make_receiver() -> AsyncIterator[Callable[[], Awaitable[CallbackReceiver]]]:
    """Start more receivers on demand (a retried activity calls back on a different URL)."""
    async with contextlib.AsyncExitStack() as stack:

        async def make() -> CallbackReceiver:
            return await stack.enter_async_context(running_receiver())

        yield make
