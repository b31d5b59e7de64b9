"""The stage gate, activity side: `current_stage()` inside any stage activity, and the worker interceptor.

    @activity.defn
    async def start_kyc(req: KycRequest) -> str:
        stage = current_stage()            # signed callback URL + idempotency key for this stage and mode
        r = await http.post(KYC_URL, json={"webhook": stage.callback_url, ...},
                            headers={"Idempotency-Key": stage.idempotency_key})
        return r.json()["check_id"]        # token mode: the interceptor hands the activity off afterwards

The worker needs `StageGateInterceptor(signer)` among its interceptors: it carries the stage's ticket from
`StageGate.call_and_wait` to the activity (as a header), builds the URL, heartbeats while the user's code
runs (when the gate gave the activity a heartbeat timeout: a worker that dies mid-request is noticed in
seconds), and in token mode completes the activity asynchronously (`raise_complete_async`) once the user's
code has made its request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from app.errors import NotAStageActivityError
from app.gate.callback_urls import CallbackSigner, CallbackTarget
from app.gate.context import PENDING_TICKET
from app.gate.operator_view import service_label
from app.gate.rules import stage_id
from app.gate.trace_context import current_traceparent
from app.gate.types import ERR_INVALID_CALLBACK_TARGET, STAGE_HEADER, Mode, StageAccepted, StageKey, StageTicket


@dataclass(frozen=True)
class StageContext:
    """What a stage activity needs to hand to its service: where to call back, and the idempotency key."""

    workflow_id: str
    stage: StageKey
    mode: Mode
    attempt: int
    callback_url: str
    idempotency_key: str
    deadline_epoch: float


_CURRENT: ContextVar[StageContext | None] = ContextVar("stagegate_current_stage", default=None)


@dataclass
class _Reported:
    """What the running stage activity said it called (a box: a sync activity runs in a copied context)."""

    service: str | None = None


_REPORTED: ContextVar[_Reported | None] = ContextVar("stagegate_reported_service", default=None)


def report_service(method: str, url: str) -> None:
    """Name the service this stage waits on, for operators: only `METHOD host[:port]` of `url` is kept.

    The gate shows it in the run's current details once the request is accepted (signal and update mode;
    in token mode the activity stays open, so pass `service=` to `call_and_wait` instead). A no-op outside a
    stage activity.
    """
    reported = _REPORTED.get()
    if reported is not None:
        reported.service = service_label(method, url)


def current_stage() -> StageContext:
    """The running stage activity's callback URL, idempotency key, stage and mode."""
    context = _CURRENT.get()
    if context is None:
        raise NotAStageActivityError(
            "no stage context: run this activity through StageGate.call_and_wait, add "
            "StageGateInterceptor to the worker's interceptors, and import app.gate.stage_gate in workflow files "
            "inside workflow.unsafe.imports_passed_through()"
        )
    return context


class StageGateInterceptor(Interceptor):
    """Worker interceptor: carries stage tickets to stage activities and hands token-mode ones off."""

    def __init__(self, signer: CallbackSigner) -> None:
        self._signer = signer

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity execution."""
        return _StageActivityInbound(next, self._signer)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        """The workflow side: put the pending ticket into the stage activity's headers."""
        del input
        return _StageWorkflowInbound


class _StageWorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_StageWorkflowOutbound(outbound))


class _StageWorkflowOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        ticket = PENDING_TICKET.get()
        if ticket is not None:
            header = workflow.payload_converter().to_payloads([ticket])[0]
            input = replace(input, headers={**input.headers, STAGE_HEADER: header})
        return super().start_activity(input)


class _HeartbeatMemory(ActivityOutboundInterceptor):
    """Remembers the details of the activity's own last heartbeat, so the keep-alive repeats them, not blanks."""

    details: Sequence[Any] = ()

    def heartbeat(self, *details: Any) -> None:
        self.details = details
        super().heartbeat(*details)


class _StageActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, signer: CallbackSigner) -> None:
        super().__init__(next)
        self._signer = signer
        self._memory: _HeartbeatMemory | None = None

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self._memory = _HeartbeatMemory(outbound)
        super().init(self._memory)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        header = input.headers.get(STAGE_HEADER)
        if header is None:
            return await super().execute_activity(input)
        ticket: StageTicket = activity.payload_converter().from_payloads([header], [StageTicket])[0]
        info = activity.info()
        if info.workflow_id is None:
            raise NotAStageActivityError("a stage activity must run inside a workflow")
        target = CallbackTarget(
            mode=ticket.mode,
            workflow_id=info.workflow_id,
            stage=ticket.stage,
            attempt=info.attempt,
            expires_at=int(ticket.deadline_epoch) + self._signer.grace_seconds,
            # Token mode names the activity, not this attempt (v8tok): the URL completes whichever attempt is
            # current when the callback comes, so a retry (a worker killed mid-request) does not orphan it.
            run_id=info.workflow_run_id if ticket.mode is Mode.TOKEN else None,
            activity_id=info.activity_id if ticket.mode is Mode.TOKEN else None,
            # Tracing on: the activity's span (the SDK's tracing interceptor runs outside this one), so the
            # callback joins the stage's trace even when the service forwards no trace headers.
            traceparent=current_traceparent(),
            shape=ticket.callback,
        )
        try:
            callback_url = self._signer.url_for(target)
        except ValueError as err:  # e.g. a workflow ID longer than a callback URL may carry: retrying cannot help
            raise ApplicationError(str(err), type=ERR_INVALID_CALLBACK_TARGET, non_retryable=True) from err
        context = StageContext(
            workflow_id=info.workflow_id,
            stage=ticket.stage,
            mode=ticket.mode,
            attempt=info.attempt,
            callback_url=callback_url,
            idempotency_key=ticket.idempotency_key,
            deadline_epoch=ticket.deadline_epoch,
        )
        # Every log line of this activity (ours, the SDK's, httpx's) carries the run and stage. The SDK runs
        # each activity in its own asyncio task, so neither binding leaks into other activities.
        structlog.contextvars.bind_contextvars(
            workflow_id=info.workflow_id, stage=stage_id(ticket.stage), mode=ticket.mode.value, attempt=info.attempt
        )
        _CURRENT.set(context)
        reported = _Reported()
        _REPORTED.set(reported)
        keep_alive = None
        if info.heartbeat_timeout:
            keep_alive = asyncio.create_task(self._keep_alive(info.heartbeat_timeout.total_seconds()))
        try:
            result = await super().execute_activity(input)
        finally:
            if keep_alive is not None:
                keep_alive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep_alive
        if ticket.mode is Mode.TOKEN:
            # The request is made; the callback server completes the activity with the callback's outcome.
            activity.raise_complete_async()
        return StageAccepted(
            attempt=info.attempt, accepted_at=datetime.now(UTC).isoformat(), result=result, service=reported.service
        )

    async def _keep_alive(self, heartbeat_timeout: float) -> None:
        """Heartbeat (the SDK throttles what reaches the server) while the user's code runs: alive means alive."""
        memory = self._memory
        while True:
            activity.heartbeat(*(memory.details if memory is not None else ()))
            await asyncio.sleep(max(heartbeat_timeout / 4, 0.1))
