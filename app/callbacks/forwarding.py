"""What every mode's forwarding shares: the Temporal call wrapper and the one map from Temporal errors to HTTP.

Errors are told apart by type and RPC status, never by message text; "closed" and "absent" by a describe call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar, cast

import structlog
from temporalio.client import AsyncActivityCancelledError, Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from app.errors import (
    BadCallbackError,
    CallbackConflictError,
    CallbackRefusedError,
    TemporalAnswerError,
    TemporalUnavailableError,
    UnknownTargetError,
)
from app.gate.callback_urls import CallbackTarget

log = structlog.get_logger(__name__)
T = TypeVar("T")

# A callback must not hang on a slow Temporal: past this budget the sender gets a 503 and retries. Well
# inside the per-attempt timeout of typical senders (the service mock's is 5 s); settings may change it.
DEFAULT_TEMPORAL_TIMEOUT = 3.0
UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
# How Temporal words its refusal of an update while the run's workflow task is failing (FAILED_PRECONDITION).
TASK_FAILING = "workflow task in failed state"


def temporal_unavailable(detail: str) -> TemporalUnavailableError:
    """503: the sender should retry later."""
    return TemporalUnavailableError(f"Temporal cannot be reached: {detail}")


def _heartbeat_taken(err: AsyncActivityCancelledError, target: CallbackTarget) -> None:
    """A token-mode heartbeat (a progress callback) that Temporal recorded, answered "paused", "reset" or "cancel".

    Paused or reset by an operator (`temporal activity pause` / `reset`): the activity is still the stage's and
    its callback will still complete it, so the sender is answered as usual. Cancellation requested: the gate no
    longer waits for this activity, so 409 (never a 500, which the SDK's exception would otherwise become).
    """
    details = err.details
    if details is not None and not details.cancel_requested:
        log.info("heartbeat recorded on a paused or reset activity", paused=details.paused, reset=details.reset)
        return
    raise CallbackConflictError(
        f"the stage {target.stage!r} activity was cancelled (its gate no longer waits for it)",
        code="activity_cancelled",
    ) from None


@dataclass(frozen=True)
class Forwarded:
    """How a mode handed a callback to Temporal: the call made, the HTTP status, and the gate's verdict if any."""

    temporal_call: str
    status_code: int = 202
    verdict: str | None = None
    early: bool = False


class Temporal:
    """The callback server's one Temporal client, with the error mapping every mode uses.

    Every call has one time budget (`timeout_seconds`), the error mapping's own describe call included: the
    RPC deadline alone does not cover a lazy client's first connection, which waits up to 30 s on a
    Temporal that accepts TCP but does not answer.
    """

    def __init__(self, client: Client, *, timeout_seconds: float = DEFAULT_TEMPORAL_TIMEOUT) -> None:
        self.client = client
        self.timeout_seconds = timeout_seconds

    @property
    def rpc_timeout(self) -> timedelta:
        """The deadline to put on each RPC (the same budget, so the server stops working when we stop waiting)."""
        return timedelta(seconds=self.timeout_seconds)

    async def call(self, call: Awaitable[T], target: CallbackTarget, *, what: str) -> T:
        """Await a Temporal call; its failure becomes the CallbackRefusedError that says what went wrong."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                try:
                    return await call
                except RPCError as err:
                    raise await self.map_rpc_error(err, target, what=what) from err
                except AsyncActivityCancelledError as err:
                    return cast("T", _heartbeat_taken(err, target))
        except TimeoutError as err:
            log.warning("Temporal did not answer in time", timeout_seconds=self.timeout_seconds)
            raise temporal_unavailable(f"no answer within {self.timeout_seconds:g}s") from err
        except RuntimeError as err:
            # The SDK's lazy client raises a bare RuntimeError when its first connection attempt fails. Its
            # subclasses (RecursionError from the payload converter, ...) are bugs, not an outage: no 503.
            if type(err) is not RuntimeError:
                raise
            log.warning("Temporal call failed before reaching the server", error=str(err)[:300])
            raise temporal_unavailable(type(err).__name__) from err

    async def map_rpc_error(self, err: RPCError, target: CallbackTarget, *, what: str) -> CallbackRefusedError:
        """The HTTP answer for a Temporal RPC error."""
        if err.status in UNREACHABLE:
            return temporal_unavailable(err.message)
        if err.status is RPCStatusCode.NOT_FOUND:
            if what == "workflow":
                return await self.workflow_gone(target)
            return CallbackConflictError(
                code="activity_not_open",
                message=f"the stage {target.stage!r} activity is no longer open (already completed, failed, "
                f"timed out, or its workflow closed): {err.message}",
            )
        if err.status is RPCStatusCode.INVALID_ARGUMENT:
            return BadCallbackError(f"Temporal rejected the callback: {err.message}", code="rejected_by_temporal")
        if err.status is RPCStatusCode.FAILED_PRECONDITION and TASK_FAILING in err.message.lower():
            # Temporal retries the run's task itself (a worker killed or stalled mid-task, a task timing out
            # again and again, a bug until it is deployed away); a 409 here made senders give up for good.
            log.warning("workflow task failing: callback refused for now", workflow_id=target.workflow_id)
            return TemporalUnavailableError(
                f"the run's workflow task is failing and Temporal is retrying it; send again later ({err.message})",
                code="workflow_task_failing",
            )
        if err.status is RPCStatusCode.FAILED_PRECONDITION:
            return CallbackConflictError(f"Temporal rejected the callback: {err.message}", code="rejected_by_temporal")
        if err.status is RPCStatusCode.RESOURCE_EXHAUSTED:
            return TemporalUnavailableError(f"Temporal is rate limiting: {err.message}", code="temporal_busy")
        return TemporalAnswerError(f"Temporal answered {err.status.name}: {err.message}")

    async def workflow_gone(self, target: CallbackTarget) -> CallbackRefusedError:
        """404 when no workflow has the ID, 409 when it exists but has closed (told apart by describe)."""
        handle = self.client.get_workflow_handle(target.workflow_id)
        try:
            described = await handle.describe(rpc_timeout=self.rpc_timeout)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return UnknownTargetError(f"no workflow with ID {target.workflow_id!r}", code="workflow_not_found")
            if err.status in UNREACHABLE:
                return temporal_unavailable(err.message)
            return TemporalAnswerError(f"Temporal answered {err.status.name}: {err.message}")
        status = described.status
        if status is not None and status is not WorkflowExecutionStatus.RUNNING:
            return CallbackConflictError(
                f"workflow {target.workflow_id!r} has already closed ({status.name.lower()})", code="workflow_closed"
            )
        # Running now (it was absent a moment ago: a race with its start): the sender may simply retry.
        return TemporalUnavailableError(
            f"workflow {target.workflow_id!r} was not ready; retry", code="workflow_not_ready"
        )
