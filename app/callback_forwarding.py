"""Turn a verified callback into the Temporal call for its mode, mapping Temporal's answers to HTTP errors."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import structlog
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app.callback_urls import CallbackTarget
from app.callback_wire import CallbackBody, to_stage_callback, to_stage_completion
from app.payloads import (
    ERR_SERVICE_REPORTED_CANCELLATION,
    ERR_SERVICE_REPORTED_FAILURE,
    SIGNAL_ADVANCE_STAGE,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")

# A callback must not hang on a slow Temporal: the sender retries on 503.
RPC_TIMEOUT = timedelta(seconds=10)
UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


class CallbackError(Exception):
    """A callback we answer with a 4xx/5xx; `code` is stable for machines, `message` is for people."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


class CallbackForwarder:
    """Forwards callbacks to Temporal through one shared client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def forward_signal(self, target: CallbackTarget, body: CallbackBody, *, received_at: str) -> str:
        """Signal mode: send `advance_stage` to the workflow by its ID (the latest run, across continue-as-new)."""
        handle = self._client.get_workflow_handle(target.workflow_id)
        payload = to_stage_callback(target, body, received_at=received_at)
        await self._call(handle.signal(SIGNAL_ADVANCE_STAGE, payload, rpc_timeout=RPC_TIMEOUT), target, what="workflow")
        return "signal advance_stage"

    async def forward_token(self, target: CallbackTarget, body: CallbackBody, *, received_at: str) -> str:
        """Token mode: complete / fail / heartbeat / report cancellation of the activity the token names."""
        assert target.task_token is not None  # verify_callback_params guarantees it in token mode
        handle = self._client.get_async_activity_handle(task_token=target.task_token)
        if body.status == "completed":
            completion = to_stage_completion(target, body, received_at=received_at)
            await self._call(handle.complete(completion, rpc_timeout=RPC_TIMEOUT), target, what="activity")
            return "complete"
        if body.status == "progress":
            details = {"progress": body.progress, "result": body.result, "received_at": received_at}
            await self._call(handle.heartbeat(details, rpc_timeout=RPC_TIMEOUT), target, what="activity")
            return "heartbeat"
        if body.status == "failed":
            error = ApplicationError(
                body.error or f"service reported stage {target.stage} failed",
                type=ERR_SERVICE_REPORTED_FAILURE,
                non_retryable=True,
            )
            await self._call(handle.fail(error, rpc_timeout=RPC_TIMEOUT), target, what="activity")
            return "fail"
        return await self._report_cancellation(target, body)

    async def _report_cancellation(self, target: CallbackTarget, body: CallbackBody) -> str:
        assert target.task_token is not None
        handle = self._client.get_async_activity_handle(task_token=target.task_token)
        try:
            await handle.report_cancellation(rpc_timeout=RPC_TIMEOUT)
            return "report_cancellation"
        except RPCError as err:
            # The server only takes a cancellation report for an activity whose cancellation was requested.
            # The service cancelling on its own is a business outcome: fail the activity with a typed,
            # non-retryable error that the workflow maps to "cancelled", exactly as in signal mode.
            if err.status not in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION):
                raise self._map_rpc_error(err, target, what="activity") from err
            log.info("cancellation report refused by Temporal, failing as cancelled", reason=err.message)
        error = ApplicationError(
            body.error or f"service cancelled stage {target.stage}",
            type=ERR_SERVICE_REPORTED_CANCELLATION,
            non_retryable=True,
        )
        await self._call(handle.fail(error, rpc_timeout=RPC_TIMEOUT), target, what="activity")
        return "fail as cancelled"

    async def _call(self, call: Awaitable[T], target: CallbackTarget, *, what: str) -> T:
        try:
            return await call
        except RPCError as err:
            raise self._map_rpc_error(err, target, what=what) from err
        except RuntimeError as err:
            # A lazy client that cannot connect raises RuntimeError("Failed client connect: ...").
            if "connect" in str(err).lower():
                raise CallbackError(503, "temporal_unavailable", f"Temporal cannot be reached: {err}") from err
            raise

    @staticmethod
    def _map_rpc_error(err: RPCError, target: CallbackTarget, *, what: str) -> CallbackError:
        if err.status in UNREACHABLE:
            return CallbackError(503, "temporal_unavailable", f"Temporal cannot be reached: {err.message}")
        if err.status is RPCStatusCode.NOT_FOUND:
            if what == "workflow" and "completed" in err.message.lower():
                return CallbackError(
                    409, "workflow_closed", f"workflow {target.workflow_id!r} has already closed: {err.message}"
                )
            if what == "workflow":
                return CallbackError(404, "workflow_not_found", f"no workflow with ID {target.workflow_id!r}")
            return CallbackError(
                409,
                "activity_not_open",
                f"the stage {target.stage} activity is no longer open (already completed, failed, "
                f"timed out, or its workflow closed): {err.message}",
            )
        if err.status is RPCStatusCode.INVALID_ARGUMENT:
            return CallbackError(400, "rejected_by_temporal", f"Temporal rejected the callback: {err.message}")
        if err.status is RPCStatusCode.FAILED_PRECONDITION:
            return CallbackError(409, "rejected_by_temporal", f"Temporal rejected the callback: {err.message}")
        if err.status is RPCStatusCode.RESOURCE_EXHAUSTED:
            return CallbackError(503, "temporal_busy", f"Temporal is rate limiting: {err.message}")
        return CallbackError(502, "temporal_error", f"Temporal answered {err.status.name}: {err.message}")
