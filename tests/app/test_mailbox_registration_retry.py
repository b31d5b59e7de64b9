"""A stage's mailbox registration outlasts a Temporal outage: transient errors are tried again until the stage's
deadline, refusals are final (the /hooks reliability row lost runs when a registration failed the stage)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from app.gate import mailbox_client
from app.gate.hook_types import ERR_KEY_TAKEN


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _unavailable() -> RPCError:
    return RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


def _failing_then(
    errors: list[BaseException], answer: str = "registered"
) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls = [0]

    async def call() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return answer

    return calls, call


@pytest.mark.parametrize(
    "error",
    [
        _unavailable(),
        RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""),
        RPCError("busy", RPCStatusCode.RESOURCE_EXHAUSTED, b""),
        WorkflowUpdateRPCTimeoutOrCancelledError(),
        WorkflowUpdateFailedError(CancelledError("mailbox run closing")),
    ],
    ids=["unavailable", "deadline", "exhausted", "update-timeout", "run-closing"],
)
async def test_transient_errors_are_tried_again_until_an_answer(error: BaseException) -> None:
    clock = _Clock()
    calls, call = _failing_then([error, error, error])
    answer = await mailbox_client.retry_until(
        call,
        until_epoch=clock.now + 60,
        what="test",
        clock=clock,
        sleep=clock.sleep,
    )
    assert answer == "registered"
    assert calls[0] == 4
    assert clock.slept == [0.5, 1.0, 2.0]  # backing off


async def test_a_long_outage_is_outlasted_with_capped_backoff() -> None:
    """Temporal down 180 s (the row's outage) inside a 300 s stage: registered once it is back."""
    clock = _Clock()
    back_at = clock.now + 180
    calls = [0]

    async def call() -> str:
        calls[0] += 1
        if clock.now < back_at:
            raise _unavailable()
        return "registered"

    answer = await mailbox_client.retry_until(
        call, until_epoch=clock.now + 300, what="test", clock=clock, sleep=clock.sleep
    )
    assert answer == "registered"
    assert max(clock.slept) == mailbox_client.REGISTER_BACKOFF_MAX
    assert clock.now - back_at <= mailbox_client.REGISTER_BACKOFF_MAX


async def test_gives_up_with_the_last_error_when_the_stage_has_no_time_left() -> None:
    clock = _Clock()
    start = clock.now
    calls = [0]

    async def call() -> str:
        calls[0] += 1
        raise _unavailable()

    with pytest.raises(RPCError):
        await mailbox_client.retry_until(call, until_epoch=start + 20, what="test", clock=clock, sleep=clock.sleep)
    assert clock.now < start + 20  # never slept past the deadline
    assert calls[0] == 1 + len(clock.slept)


@pytest.mark.parametrize(
    "error",
    [
        WorkflowUpdateFailedError(ApplicationError("another stage waits on this key", type=ERR_KEY_TAKEN)),
        RPCError("bad request", RPCStatusCode.INVALID_ARGUMENT, b""),
        RPCError("denied", RPCStatusCode.PERMISSION_DENIED, b""),
        ValueError("not a Temporal error"),
    ],
    ids=["key-taken", "invalid-argument", "permission-denied", "other"],
)
async def test_refusals_are_final(error: BaseException) -> None:
    clock = _Clock()
    calls, call = _failing_then([error])
    with pytest.raises(type(error)):
        await mailbox_client.retry_until(
            call,
            until_epoch=clock.now + 300,
            what="test",
            clock=clock,
            sleep=clock.sleep,
        )
    assert calls[0] == 1
    assert clock.slept == []
