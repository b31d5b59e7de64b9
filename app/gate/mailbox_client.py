"""Reaching a hook mailbox from outside it: update-with-start, the same way from the stage and from the endpoint.

Whichever side comes first starts the mailbox (`WorkflowIDConflictPolicy.USE_EXISTING`); the other finds it
running. A mailbox that is just ending when a message arrives refuses the update; the message is then sent
again, and starts a fresh mailbox (the ID may be reused once the old run has closed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app.gate.hook_types import (
    MAILBOX_WORKFLOW_NAME,
    SIGNAL_MAILBOX_DELIVER,
    UPDATE_MAILBOX_DELIVER,
    UPDATE_MAILBOX_REGISTER,
    HookEventIn,
    HookWaiter,
    MailboxAnswer,
    MailboxInput,
    RegisterAnswer,
    mailbox_id,
)
from app.gate.sdk_private import start_operation_future

T = TypeVar("T")
# A mailbox closing at the very moment a message arrives: try again (then a fresh one starts).
ATTEMPTS = 3
# A registration that Temporal cannot take right now (down, restarting, overloaded) is tried again with this
# backoff for as long as the stage has time: failing the attempt instead would make the request again, and a
# failure the worker cannot report while Temporal is down is lost with the attempt (the /hooks reliability row).
REGISTER_BACKOFF_FIRST = 0.5
REGISTER_BACKOFF_MAX = 10.0
_TRANSIENT_STATUSES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.NOT_FOUND,  # a mailbox run closing under us, past ATTEMPTS
    }
)


async def _update_with_start(
    client: Client,
    *,
    task_queue: str,
    source: str,
    key: str,
    update: str,
    arg: Any,
    result_type: type[T],
    rpc_timeout: timedelta | None,
) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            MAILBOX_WORKFLOW_NAME,
            MailboxInput(source=source, key=key),
            id=mailbox_id(source, key),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"hook mailbox: {source} key {key}"[:200],
        )
        try:
            try:
                answer: T = await client.execute_update_with_start_workflow(
                    update, arg, start_workflow_operation=start, result_type=result_type, rpc_timeout=rpc_timeout
                )
            except BaseException:
                _settle(start)
                raise
            return answer
        except WorkflowUpdateFailedError as err:
            # Our own refusal (a validator's ApplicationError) is final; anything else is the run closing.
            if isinstance(err.cause, ApplicationError) or attempt == ATTEMPTS:
                raise
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND or attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _settle(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """A failed update-with-start leaves the failure on the start operation's own future too; nobody else reads
    it, and asyncio would log "Future exception was never retrieved" for every such call. Read it here."""
    future = start_operation_future(start)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


def is_transient(err: BaseException) -> bool:
    """An error that says "not now" rather than "no": Temporal unreachable or slow, or a mailbox run closing."""
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return True
    if isinstance(err, WorkflowUpdateFailedError):
        return not isinstance(err.cause, ApplicationError)  # our validator's refusal is final
    if isinstance(err, RPCError):
        return err.status in _TRANSIENT_STATUSES
    return False


async def retry_until(
    call: Callable[[], Awaitable[T]],
    *,
    until_epoch: float,
    what: str,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`call()` again after each transient error, backing off, until a try could not end before `until_epoch`."""
    delay = REGISTER_BACKOFF_FIRST
    tries = 0
    while True:
        tries += 1
        try:
            return await call()
        except Exception as err:
            if not is_transient(err) or clock() + delay >= until_epoch:
                raise
            structlog.get_logger(__name__).warning(
                "hook mailbox not reachable; trying again", what=what, tries=tries, retry_in=delay, error=str(err)
            )
        await sleep(delay)
        delay = min(delay * 2, REGISTER_BACKOFF_MAX)


async def register_waiter(
    client: Client,
    waiter: HookWaiter,
    *,
    source: str,
    key: str,
    task_queue: str,
    rpc_timeout: timedelta | None,
    until_epoch: float | None = None,
) -> RegisterAnswer:
    """The stage side: this stage now waits on (source, key); with `until_epoch`, transient errors are retried
    until then (the stage's deadline: the key's events are kept in the mailbox meanwhile)."""

    def once() -> Awaitable[RegisterAnswer]:
        return _update_with_start(
            client,
            task_queue=task_queue,
            source=source,
            key=key,
            update=UPDATE_MAILBOX_REGISTER,
            arg=waiter,
            result_type=RegisterAnswer,
            rpc_timeout=rpc_timeout,
        )

    if until_epoch is None:
        return await once()
    return await retry_until(once, until_epoch=until_epoch, what=f"register {source} key {key}")


async def deliver_event(
    client: Client, event: HookEventIn, *, task_queue: str, rpc_timeout: timedelta | None
) -> MailboxAnswer:
    """The endpoint side: a verified event for (source, key)."""
    return await _update_with_start(
        client,
        task_queue=task_queue,
        source=event.source,
        key=event.key,
        update=UPDATE_MAILBOX_DELIVER,
        arg=event,
        result_type=MailboxAnswer,
        rpc_timeout=rpc_timeout,
    )


async def signal_event(client: Client, event: HookEventIn, *, task_queue: str, rpc_timeout: timedelta | None) -> None:
    """The endpoint's fallback: the event by signal-with-start (durable once Temporal answers; no worker needed)."""
    await client.start_workflow(
        MAILBOX_WORKFLOW_NAME,
        MailboxInput(source=event.source, key=event.key),
        id=mailbox_id(event.source, event.key),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=SIGNAL_MAILBOX_DELIVER,
        start_signal_args=[event],
        static_summary=f"hook mailbox: {event.source} key {event.key}"[:200],
        rpc_timeout=rpc_timeout,
    )
