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
import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.client import WorkflowUpdateFailedError
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

from app.errors import NotAStageActivityError, PathError
from app.gate import hook_handoff, mailbox_client, paths
from app.gate.callback_urls import CallbackSigner, CallbackTarget
from app.gate.context import PENDING_TICKET
from app.gate.hook_types import ERR_KEY_TAKEN, MAX_KEY_CHARS, HookRegistered, HookWaiter
from app.gate.operator_view import service_label
from app.gate.rules import stage_id
from app.gate.ticket import HookWait, StageTicket
from app.gate.trace_context import current_traceparent
from app.gate.types import (
    ERR_INVALID_CALLBACK_TARGET,
    STAGE_HEADER,
    Mode,
    StageAccepted,
    StageKey,
)

# ApplicationError type of a stage that waits on a source but has no usable key (not retried: the same request
# would answer the same).
ERR_NO_HOOK_KEY = "NoHookKey"
# Registering with the key's mailbox: one call's deadline (the activity's retries cover an outage).
REGISTER_RPC_TIMEOUT = timedelta(seconds=10)


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
    hook_key: str | None = None


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


def report_hook_key(key: str | int) -> None:
    """Name the correlation key this stage waits on (a stage that waits on a source, when the key is known only
    inside the activity, e.g. from the vendor's answer). A no-op outside a stage activity."""
    reported = _REPORTED.get()
    if reported is not None:
        reported.hook_key = str(key)


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

    def __init__(self, signer: CallbackSigner, *, mailbox_task_queue: str | None = None) -> None:
        """`mailbox_task_queue`: where hook mailboxes run (the callback server's `STAGEGATE_TASK_QUEUE`);
        None: the stage activity's own task queue."""
        self._signer = signer
        self._mailbox_task_queue = mailbox_task_queue

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity execution."""
        return _StageActivityInbound(next, self._signer, self._mailbox_task_queue)

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
    def __init__(
        self, next: ActivityInboundInterceptor, signer: CallbackSigner, mailbox_task_queue: str | None
    ) -> None:
        super().__init__(next)
        self._signer = signer
        self._mailbox_task_queue = mailbox_task_queue
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
        hook_key = None
        try:
            result = await super().execute_activity(input)
            if ticket.hook is not None:  # before the hand-off: the key's events may already be waiting for us
                hook_key = _hook_key(ticket.hook, result, reported.hook_key)
                # Still heartbeating: a registration retried while Temporal recovers is a live attempt.
                await self._register(ticket, ticket.hook.source, hook_key)
                if ticket.mode is Mode.TOKEN:  # what the gate's hook hand-off check looks for (hook_handoff.py)
                    await self._mark_registered(ticket, ticket.hook.source, hook_key)
        finally:
            if keep_alive is not None:
                keep_alive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep_alive
        if ticket.mode is Mode.TOKEN:
            # The request is made; the callback server completes the activity with the callback's outcome.
            activity.raise_complete_async()
        return StageAccepted(
            attempt=info.attempt,
            accepted_at=datetime.now(UTC).isoformat(),
            result=result,
            service=reported.service,
            hook_key=hook_key,
        )

    async def _register(self, ticket: StageTicket, source: str, key: str) -> None:
        """Tell the key's mailbox this stage waits on it (update-with-start: the mailbox may not exist yet)."""
        info = activity.info()
        waiter = HookWaiter(
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            stage=ticket.stage,
            mode=ticket.mode,
            attempt=info.attempt,
            deadline_epoch=ticket.deadline_epoch,
            activity_id=info.activity_id if ticket.mode is Mode.TOKEN else None,
            shape=ticket.callback,
            registered_at=datetime.now(UTC).isoformat(),
        )
        try:
            answer = await mailbox_client.register_waiter(
                activity.client(),
                waiter,
                source=source,
                key=key,
                task_queue=self._mailbox_task_queue or info.task_queue,
                rpc_timeout=REGISTER_RPC_TIMEOUT,
                until_epoch=_register_until(ticket.deadline_epoch, info),
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == ERR_KEY_TAKEN:
                raise ApplicationError(
                    f"stage {ticket.stage!r}: {source} key {key!r}: {cause.message}",
                    type=ERR_KEY_TAKEN,
                    non_retryable=True,
                ) from err
            raise
        structlog.get_logger(__name__).info(
            "stage waits on a hook key", hook_source=source, hook_key=key, early_events=answer.early_events
        )

    async def _mark_registered(self, ticket: StageTicket, source: str, key: str) -> None:
        """Token mode: record on this activity that its stage is registered, before handing off."""
        info = activity.info()
        marker = HookRegistered(source=source, key=key, stage=stage_id(ticket.stage), attempt=info.attempt)
        await hook_handoff.mark_registered(marker, until_epoch=_register_until(ticket.deadline_epoch, info))

    async def _keep_alive(self, heartbeat_timeout: float) -> None:
        """Heartbeat (the SDK throttles what reaches the server) while the user's code runs: alive means alive."""
        memory = self._memory
        while True:
            activity.heartbeat(*(memory.details if memory is not None else ()))
            await asyncio.sleep(max(heartbeat_timeout / 4, 0.1))


def _register_until(deadline_epoch: float, info: activity.Info) -> float:
    """Retry a registration until the stage's deadline, or until just before this attempt's own start-to-close
    would end it (then Temporal retries the attempt: a fresh request with the same idempotency key)."""
    until = deadline_epoch
    if info.start_to_close_timeout is not None:
        attempt_end = info.started_time.timestamp() + info.start_to_close_timeout.total_seconds()
        until = min(until, attempt_end - REGISTER_RPC_TIMEOUT.total_seconds())
    return until


def _hook_key(wait: HookWait, result: Any, reported: str | None) -> str:
    """The stage's correlation key: given up front, reported by the activity, or read from what it returned."""
    if wait.key is not None:
        key: Any = wait.key
    elif reported is not None:
        key = reported
    elif wait.key_path is not None:
        # As the payload converter would put it in history: dataclasses and models become JSON objects.
        payload = activity.payload_converter().to_payloads([result])[0]
        try:
            value = json.loads(payload.data) if payload.metadata.get("encoding") == b"json/plain" else None
            key = paths.lookup(value, paths.split(wait.key_path), "the answer")
        except (ValueError, PathError) as exc:
            raise ApplicationError(
                f"stage waits on {wait.source}: no key at {wait.key_path!r} in what its activity returned: {exc}",
                type=ERR_NO_HOOK_KEY,
                non_retryable=True,
            ) from None
    else:
        raise ApplicationError(
            f"stage waits on {wait.source} but has no key: give key= or key_path=, or call report_hook_key()",
            type=ERR_NO_HOOK_KEY,
            non_retryable=True,
        )
    if isinstance(key, bool) or not isinstance(key, str | int) or key == "" or len(str(key)) > MAX_KEY_CHARS:
        raise ApplicationError(
            f"stage waits on {wait.source}: its key must be a non-empty string or integer of at most "
            f"{MAX_KEY_CHARS} characters, got {paths.kind(key)}",
            type=ERR_NO_HOOK_KEY,
            non_retryable=True,
        )
    return str(key)
