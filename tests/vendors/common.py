"""What the fake vendors share: the scenarios a test picks, and a webhook sender that retries like real ones do.

The fakes imitate public APIs (their own request and callback bodies); nothing in them speaks stagegate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import httpx


class Scenario(StrEnum):
    """How the vendor's job goes, picked by the caller through a field of the vendor's own API."""

    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"
    NEVER = "never"  # progress (where the vendor has it), then nothing: the stage times out
    TWICE = "twice"  # the final event delivered twice (a retry the vendor thought was lost)
    EARLY = "early"  # the final event sent before the vendor answers the request
    OUT_OF_ORDER = "out_of_order"  # the final event first, a progress event after it
    OVERSIZED = "oversized"  # the final event's body is larger than any callback server should take


OVERSIZED_BYTES = 2 * 1024 * 1024
SEND_ATTEMPTS = 3


@dataclass
class Deliveries:
    """Every webhook delivery a fake made: (event label, HTTP status or 0 for a connection error)."""

    answers: list[tuple[str, int]] = field(default_factory=list)
    delay: float = 0.15

    def statuses(self, label: str) -> list[int]:
        """The answers to deliveries of one event label."""
        return [status for name, status in self.answers if name == label]


async def deliver(log: Deliveries, label: str, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]) -> int:
    """POST one event, retrying connection errors, 429 and 5xx a few times (never other 4xx); the last status."""
    status = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for attempt in range(SEND_ATTEMPTS):
            try:
                status = (await send(http)).status_code
            except httpx.HTTPError:
                status = 0
            log.answers.append((label, status))
            if status and status != 429 and status < 500:
                return status
            await asyncio.sleep(0.2 * (attempt + 1))
    return status


class Background:
    """Tasks a fake runs after answering; cancelled when its app shuts down."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def run(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
