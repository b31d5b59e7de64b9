"""The stage gate, workflow side: any `@workflow.defn` runs a stage activity and waits for its callback.

    gate = StageGate(state, mode=Mode.SIGNAL)            # in @workflow.init: registers the messages
    kyc = await gate.call_and_wait(start_kyc, req, stage="kyc", timeout=timedelta(hours=1))
    if not kyc.ok: raise stage_failure(kyc)               # business outcomes come back as values

The gate owns the `advance_stage` signal and update and the `gate_status` query, and keeps all its state in
one `GateState` that continue-as-new carries whole (`gate.carry()`). Import this module in workflow files
inside `workflow.unsafe.imports_passed_through()`, like every non-workflow module.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from app.errors import InvalidCallbackError
from app.gate import completions, operator_view, rules
from app.gate.deadline_timer import DeadlineTimer
from app.gate.fetching import fetch_after_notify
from app.gate.gate_metrics import GateMetrics
from app.gate.hook_types import ACTIVITY_HOOK_HANDOFF_CHECK, HookHandoffCheck
from app.gate.sdk_private import registered_activity_name
from app.gate.shapes import CallbackShape, FetchContext, FetchSpec
from app.gate.ticket import HookWait, StageTicket
from app.gate.types import (
    ERR_DUPLICATE_CALLBACK,
    ERR_INVALID_CALLBACK,
    ERR_SERVICE_REJECTED_REQUEST,
    ERR_SERVICE_REPORTED_CANCELLATION,
    ERR_SERVICE_REPORTED_FAILURE,
    ERR_STAGE_CANCELLED,
    ERR_STAGE_FAILED,
    ERR_STAGE_TIMED_OUT,
    ERR_STALE_STAGE,
    ERR_UNKNOWN_STAGE,
    OWN_STAGE_ID,
    QUERY_GATE_STATUS,
    SIGNAL_ADVANCE_STAGE,
    UPDATE_ADVANCE_STAGE,
    AdvanceAnswer,
    AdvancedBy,
    GateState,
    GateStatus,
    InboxEntry,
    Mode,
    Outcome,
    StageCallback,
    StageCheck,
    StageKey,
    StageRecord,
    Verdict,
    WaitingFor,
)

with workflow.unsafe.imports_passed_through():
    # Passed through even when this module is re-imported inside the sandbox: the interceptor reads the same slot.
    from app.gate.context import PENDING_TICKET

    # OpenTelemetry's context must be the process's own (where the tracing interceptor put itself).
    from app.gate.tracing import stage_resumed

# Transient service trouble is retried; a 4xx from the service or a service-reported outcome is final.
SERVICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[
        ERR_SERVICE_REJECTED_REQUEST,
        ERR_SERVICE_REPORTED_FAILURE,
        ERR_SERVICE_REPORTED_CANCELLATION,
    ],
)
REQUEST_START_TO_CLOSE = timedelta(seconds=60)
# Signal/update mode: the worker's interceptor heartbeats while the request runs, so a worker that died
# mid-request is noticed after this long (then the request is retried), not after the start-to-close.
REQUEST_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Token mode: once the activity is handed off nobody heartbeats it, so a worker that died BEFORE the hand-off
# would only be noticed when the stage's budget is gone. After this long without a callback the gate asks the
# service (the reconcile activity) whether it has the request, and makes the request again if it has not.
HANDOFF_CHECK = timedelta(seconds=20)
# Token mode: at most this many requests made again after hand-off checks found nothing at the service.
MAX_HANDOFF_REQUESTS = 3
RECONCILE_START_TO_CLOSE = timedelta(seconds=15)
# A stage at its deadline waits ~15 s more (1+2+4+8) for a service that is briefly down before giving up.
RECONCILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=8),
    maximum_attempts=5,
)  # fmt: skip

# Patch IDs of the gate's own command changes (see docs/versioning.md).
PATCH_RECOVER_AFTER_REQUEST_TIMEOUT = "stagegate-recover-after-request-timeout"
# v5: token-mode hand-off check (a timer per token stage with a reconcile activity, and a fresh request when
# the service never got it).
PATCH_HANDOFF_CHECK = "stagegate-handoff-check"
# v9: the hand-off check of a token-mode stage that waits on a source asks whether the stage is registered with its
# key's mailbox (app/gate/hook_handoff.py), with or without a reconcile activity; its activities get named IDs.
PATCH_HOOK_HANDOFF_CHECK = "stagegate-hook-handoff-check"
# v5: a stage activity that ran out of the stage's time while RETRYING (its last error was the service's,
# not a timeout) reconciles too, in every mode, instead of failing the stage.
PATCH_RECONCILE_EVERY_TIMEOUT = "stagegate-reconcile-every-timeout"
# v12: stage deadlines and token-mode hand-off checks wait on one timer per run (app/gate/deadline_timer.py)
# instead of a timer per stage that the callback cancels: two history events fewer per stage.
PATCH_SHARED_DEADLINE_TIMER = "stagegate-shared-deadline-timer"

_REFUSAL_TYPES = {
    Verdict.DUPLICATE: ERR_DUPLICATE_CALLBACK,
    Verdict.STALE: ERR_STALE_STAGE,
    Verdict.UNKNOWN: ERR_UNKNOWN_STAGE,
    Verdict.INVALID: ERR_INVALID_CALLBACK,
}
_FAILURE_TYPES = {Outcome.TIMED_OUT: ERR_STAGE_TIMED_OUT, Outcome.CANCELLED: ERR_STAGE_CANCELLED}

# An activity: the function itself (`@activity.defn`) or its registered name.
StageActivity = Callable[..., Any] | str


class StageGate:
    """Stage gates for one workflow run. Create it in `@workflow.init` (so early messages find it)."""

    def __init__(
        self,
        state: GateState | None = None,
        *,
        mode: Mode = Mode.SIGNAL,
        stages: Sequence[StageKey] | None = None,
        retry_policy: RetryPolicy = SERVICE_RETRY,
        request_timeout: timedelta = REQUEST_START_TO_CLOSE,
        reconcile_patch: str | None = None,
        request_heartbeat_timeout: timedelta | None = REQUEST_HEARTBEAT_TIMEOUT,
        handoff_check: timedelta | None = HANDOFF_CHECK,
    ) -> None:
        """Register the gate's signal, update and query on the current workflow.

        Args:
            state: Carried state after continue-as-new (`gate.carry()`); None for a new run.
            mode: The run's default mode; `call_and_wait(mode=...)` overrides it per stage.
            stages: The stage keys this run has, if known up front: anything else is refused as unknown.
            retry_policy: For stage activities (the request); a stage's business outcome is never retried.
            request_timeout: Start-to-close of one attempt of a signal/update-mode stage activity.
            reconcile_patch: Patch ID that guards the reconcile step (only for workflows that ran without one).
            request_heartbeat_timeout: Signal/update mode: a request attempt whose worker stopped heartbeating
                this long is retried (None: only its start-to-close notices a dead worker).
            handoff_check: Token mode, with a reconcile activity: after this long without a callback, ask the
                service whether it got the request, and make it again if not (None: never ask early).
                Choose it longer than your service needs to take a request (retries included). A stage that
                waits on a source (v9) asks instead whether it registered with its key's mailbox, reconcile
                activity or not (the worker must register `check_hook_handoff`).
        """
        self.state = state if state is not None else GateState(started_at=_now())
        if stages is not None and self.state.declared_stages is None:
            self.state.declared_stages = [rules.parse_stage_key(s) for s in stages]
        self.mode = mode
        self._retry_policy = retry_policy
        self._request_timeout = request_timeout
        self._reconcile_patch = reconcile_patch
        self._request_heartbeat_timeout = request_heartbeat_timeout
        self._handoff_check = handoff_check
        # What the current details show of the open stage; rebuilt by replay, never part of the carried state.
        self._watch: _Watch | None = None
        self._finished = False
        self._metrics = GateMetrics()
        self._deadlines = DeadlineTimer()
        workflow.set_signal_handler(SIGNAL_ADVANCE_STAGE, self._on_signal)
        workflow.set_update_handler(UPDATE_ADVANCE_STAGE, self._on_update, validator=self._validate_update)
        workflow.set_query_handler(QUERY_GATE_STATUS, self.status)

    # --- messages ---------------------------------------------------------------------------------------

    def _on_signal(self, *args: Any) -> None:
        # Takes anything: a payload the SDK could not decode into a type would be dropped with only an error log.
        raw = args[0] if len(args) == 1 else list(args) if args else None
        try:
            callback = rules.parse_advance(raw, received_at=_now())
        except InvalidCallbackError as err:
            self._refuse(Verdict.INVALID, str(err), raw)
            return
        verdict = rules.admit(self.state, callback, AdvancedBy.SIGNAL)
        if verdict is Verdict.UNKNOWN:
            self._refuse(verdict, f"this run has no stage {callback.stage!r}", raw)
        elif verdict in (Verdict.DUPLICATE, Verdict.STALE):
            workflow.logger.info("advance_stage for stage %r ignored: %s", callback.stage, verdict.value)
            self._metrics.refused(verdict.value)
        self._show()  # progress counted, or a refusal recorded

    def _validate_update(self, *args: Any) -> None:
        # Runs before the update is written to history: a refused callback leaves no trace in it.
        raw = args[0] if len(args) == 1 else None
        try:
            callback = rules.parse_advance(raw, received_at=_now())
        except InvalidCallbackError as err:
            self._metrics.refused(Verdict.INVALID.value)  # the meter may be used here; state may not
            raise ApplicationError(str(err), type=ERR_INVALID_CALLBACK, non_retryable=True) from None
        verdict, reason = rules.classify(self.state, callback)
        if verdict in _REFUSAL_TYPES:
            self._metrics.refused(verdict.value)
            raise ApplicationError(reason, type=_REFUSAL_TYPES[verdict], non_retryable=True)

    def _on_update(self, *args: Any) -> AdvanceAnswer:
        callback = rules.parse_advance(args[0] if args else None, received_at=_now())
        verdict = rules.admit(self.state, callback, AdvancedBy.UPDATE)
        if verdict in _REFUSAL_TYPES:  # taken by the validator, refused by the time it ran (a race)
            self._metrics.refused(verdict.value)
        self._show()
        return AdvanceAnswer(
            verdict=verdict,
            stage=callback.stage,
            current_stage=self.state.current,
            early=verdict is Verdict.ACCEPTED and callback.stage != self.state.current,
        )

    def _refuse(self, verdict: Verdict, reason: str, raw: Any) -> None:
        workflow.logger.warning(
            "advance_stage refused (%s): %s; payload %s", verdict.value, reason, rules.describe_raw(raw)
        )
        rules.reject(self.state, verdict, reason, raw, at=_now())
        self._metrics.refused(verdict.value)
        self._show()

    def status(self) -> GateStatus:
        """The `gate_status` query: current stage, what it waits for (and on, since, until), records, refusals."""
        status = rules.status_of(self.state)
        watch = self._watch
        if watch is None:
            return status
        return replace(status, waiting_on=watch.service, waiting_since=watch.since, deadline=_iso(watch.call.deadline))

    # --- the stage ----------------------------------------------------------------------------------------

    async def call_and_wait(
        self,
        activity: StageActivity,
        arg: Any = None,
        *,
        stage: StageKey,
        timeout: timedelta | float,
        mode: Mode | None = None,
        reconcile: StageActivity | None = None,
        reconcile_arg: Any = None,
        service: str | None = None,
        callback: CallbackShape | None = None,
        fetch: FetchSpec | None = None,
        fetch_context: FetchContext | None = None,
        source: str | None = None,
        key: str | int | None = None,
        key_path: str | None = None,
    ) -> StageRecord:
        """Run `activity(arg)` for `stage`, then wait for the stage's callback; return how the stage ended.

        Inside the activity, `app.gate.stage_activity.current_stage()` gives the signed callback URL and the
        idempotency key. Failed, cancelled and timed-out stages come back as values (`record.ok` is False);
        `stage_failure(record)` turns one into the typed ApplicationError when the caller wants the run to fail.
        Before timing out, `reconcile(reconcile_arg or arg)` (returning a `StageCheck`) asks the service.
        `service` names what the stage waits on for operators (`operator_view.service_label(method, url)`:
        method and host only); a stage activity that calls `report_service(method, url)` names it too.
        `callback`: the service's own callback body (`CallbackShape`), when it does not send stagegate's.
        `fetch`: after a completed callback, GET the result (`FetchSpec`, run by the worker's fetch activity).
        `source`: the stage waits on events of this fixed-endpoint source (`POST /hooks/{source}`) whose
        correlation key is `key` (known up front; `OWN_STAGE_ID`: the stage's own ID, its idempotency key, for a
        vendor that echoes it), or is at `key_path` in what the activity returned ("" for the value itself), or
        is what the activity passed to `report_hook_key`; `callback` then reads the events.
        """
        hook = _hook_wait(stage, source, key, key_path)
        key = rules.parse_stage_key(stage)  # from here on `key` is the stage's key (the hook's is in `hook`)
        mode = mode or self.mode
        budget = timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout)
        if budget <= timedelta(0):
            raise ValueError(f"stage {key!r}: timeout must be positive")
        info = workflow.info()
        # Stable across retries and continue-as-new, distinct for a reused workflow ID: the stage's own ID.
        idempotency_key = f"{info.workflow_id}/{info.first_execution_run_id}/{rules.stage_id(key)}"
        if hook is not None and hook.key == OWN_STAGE_ID:
            hook = replace(hook, key=idempotency_key)
        record = rules.begin_stage(self.state, key, mode, at=_now())
        if hook is not None:
            record.hook_source, record.hook_key = hook.source, hook.key
            service = service or operator_view.one_line(f"{hook.source} key {hook.key or '(from the answer)'}")
        deadline = workflow.now() + budget
        ticket = StageTicket(
            stage=key,
            mode=mode,
            deadline_epoch=deadline.timestamp(),
            idempotency_key=idempotency_key,
            callback=_checked_shape(key, callback),
            hook=hook,
        )
        number, total = self._position(key)
        call = _StageCall(
            activity,
            arg,
            ticket,
            budget,
            deadline,
            _Reconcile(reconcile, arg if reconcile_arg is None else reconcile_arg),
            operator_view.stage_title(key, number, total),
        )
        self._watch = _Watch(call=call, record=record, service=service, since=_iso(workflow.now()))
        self._metrics.stage_started(mode.value)
        if mode is Mode.TOKEN:
            await self._token_stage(record, call)
        else:
            await self._gate_stage(record, call)
        if fetch is not None and record.ok:  # notify, then fetch (app/gate/fetching.py)
            self.state.waiting_for = WaitingFor.FETCH
            await fetch_after_notify(
                record,
                fetch,
                idempotency_key=ticket.idempotency_key,
                deadline=deadline,
                retry_policy=self._retry_policy,
                context=fetch_context,
            )
        rules.end_stage(self.state, record)
        self._metrics.stage_ended(
            mode.value,
            record.outcome.value,
            record.advanced_by.value if record.advanced_by else None,
            timed_out=record.outcome is Outcome.TIMED_OUT,
        )
        self._metrics.callback_wait(mode.value, record.accepted_at or record.requested_at, record.callback_at)
        self._watch = None
        self.state.waiting_for = WaitingFor.NOTHING
        self._show()
        stage_resumed(record)  # a span when tracing is on; never a command
        return replace(record)

    async def _gate_stage(self, record: StageRecord, call: _StageCall) -> None:
        """Signal and update mode: a short activity makes the request, then the gate waits for the callback."""
        key = record.stage
        self._waiting(WaitingFor.REQUEST)
        heartbeat = self._request_heartbeat_timeout
        try:
            handle = self._start(
                call,
                result_type=RawValue,  # read in workflow code (app/gate/completions.py): never a failed task
                schedule_to_close_timeout=call.budget,
                start_to_close_timeout=min(self._request_timeout, call.budget),
                # An attribute of the command, not a new one: replays of older runs are unaffected.
                heartbeat_timeout=min(heartbeat, call.budget) if heartbeat else None,
            )
            raw = await handle
        except ActivityError as err:
            if await self._recover_after_request_timeout(record, err, call):
                record.attempts = max(record.attempts, 1)
                self._apply(record)
                return
            _end_from_activity_error(record, err)
            return
        try:
            accepted = completions.read_accepted(completions.decode(raw, workflow.payload_converter()), at=_now())
        except InvalidCallbackError as err:
            _end_unusable(record, err, "its request activity")
            return
        record.attempts = accepted.attempt
        record.accepted_at = accepted.accepted_at
        record.request_result = accepted.result if accepted.result is not None else accepted.job_id
        if accepted.service and self._watch is not None:  # what the activity reported it called
            self._watch.service = accepted.service
        if accepted.hook_key is not None and record.hook_source is not None:
            record.hook_key = accepted.hook_key
            if self._watch is not None:
                self._watch.service = operator_view.one_line(f"{record.hook_source} key {accepted.hook_key}")
        self._waiting(WaitingFor.CALLBACK)
        try:
            # The stage gate: only a recorded callback for this stage opens it.
            await self._wait_for_callback(key, call)
        except builtins.TimeoutError:
            if not await self._reconcile(record, call.check, call.title):
                _time_out(record, call.budget)
                return
        self._apply(record)

    async def _wait_for_callback(self, key: StageKey, call: _StageCall) -> None:
        """Until the stage's callback is recorded; `builtins.TimeoutError` at the stage's deadline."""

        def arrived() -> bool:
            return rules.inbox_entry(self.state, key) is not None

        await self._wait_until(arrived, call.deadline, operator_view.timer_summary(call.title, _iso(call.deadline)))

    async def _wait_until(self, condition: Callable[[], bool], deadline: datetime, summary: str) -> None:
        """Until `condition()`; `builtins.TimeoutError` at `deadline`. v12: on the run's one deadline timer."""
        if workflow.patched(PATCH_SHARED_DEADLINE_TIMER):
            await self._deadlines.wait(condition, deadline, operator_view.shared_timer_summary(summary))
            return
        remaining = (deadline - workflow.now()).total_seconds()
        await workflow.wait_condition(condition, timeout=max(remaining, 0.001), timeout_summary=summary)

    async def _token_stage(self, record: StageRecord, call: _StageCall) -> None:
        """Token mode: the activity hands its task token to the service and stays open until the callback."""
        key = record.stage
        self._waiting(WaitingFor.ACTIVITY_COMPLETION)
        check_after = self._handoff_check
        # v9: a hook stage's check looks at the stage's own activity, so the gate names it (a public option of the
        # schedule command; before the patch the SDK numbered it).
        hook_check = (
            record.hook_source is not None
            and check_after is not None
            and call.budget > check_after
            and workflow.patched(PATCH_HOOK_HANDOFF_CHECK)
        )
        handle = self._start(
            call,
            result_type=RawValue,  # read in workflow code (app/gate/completions.py): never a failed task
            # The activity stays open until the callback completes it: its timeout is the stage gate.
            schedule_to_close_timeout=call.budget,
            start_to_close_timeout=call.budget,
            activity_id=_request_activity_id(key, 0) if hook_check else None,
        )
        if hook_check or (check_after is not None and call.check.activity is not None):
            handle = await self._confirm_handoff(record, handle, call, hook=hook_check)
        # A hand-made advance_stage signal (or update) opens the gate too.
        await workflow.wait_condition(self._settled(handle, key))
        if not handle.done():
            handle.cancel()
            try:
                await handle
            except (ActivityError, asyncio.CancelledError):
                pass
            record.attempts = max(record.attempts, 1 + record.requests_repeated)
            self._apply(record)
            return
        try:
            raw = handle.result()
        except ActivityError as err:
            if self._ran_out_of_time(err) and await self._recover(record, call):
                record.attempts = max(record.attempts, 1 + record.requests_repeated)
                self._apply(record)
                return
            _end_from_activity_error(record, err)
            return
        try:
            completion = completions.read_completion(
                completions.decode(raw, workflow.payload_converter()), stage=key, received_at=_now()
            )
        except InvalidCallbackError as err:
            _end_unusable(record, err, "its activity")
            return
        if isinstance(completion, StageCallback):  # completed by hand (`temporal activity complete`)
            record.attempts = max(record.attempts, 1 + record.requests_repeated)
            entry = InboxEntry(callback=completion, via=AdvancedBy.MANUAL)
            rules.apply_callback(record, entry, progress=self._progress(key), at=_now())
            return
        record.attempts = completion.attempt + record.requests_repeated
        record.callback_at = completion.callback_at
        record.progress = max(completion.progress, self._progress(key))
        record.result = completion.result
        record.outcome = Outcome.COMPLETED
        record.advanced_at = _now()
        record.advanced_by = AdvancedBy.ACTIVITY

    def _settled(self, handle: workflow.ActivityHandle[Any], key: StageKey) -> Callable[[], bool]:
        """Token mode's gate: the activity is done, or a callback for the stage is in the inbox (e.g. by hand)."""
        return lambda: handle.done() or rules.inbox_entry(self.state, key) is not None

    async def _confirm_handoff(
        self, record: StageRecord, handle: workflow.ActivityHandle[Any], call: _StageCall, *, hook: bool = False
    ) -> workflow.ActivityHandle[Any]:
        """Token mode: make sure the service got the request; the handle of the activity to keep waiting for.

        After hand-off nobody heartbeats the activity, so a worker that died before (or while) making the
        request leaves it open, silently, until the stage's budget is gone. So: no callback after
        `handoff_check` -> ask the service (the reconcile activity). It has the request -> wait as before. It has
        finished -> its record advances the stage. It has nothing -> cancel the activity and make the request
        again (a fresh activity, so a fresh task token; same idempotency key), at most MAX_HANDOFF_REQUESTS times.
        `hook` (v9): the stage waits on a source; the question is instead whether the stage's activity
        registered with its key's mailbox (`app/gate/hook_handoff.py`), and the answer is acted on the same way.
        """
        key = record.stage
        check_after = self._handoff_check
        assert check_after is not None
        first = True
        while True:
            if call.deadline - workflow.now() <= check_after:
                return handle  # no time for a check: the stage's own timeout (and its reconcile) comes first
            if first and not hook and not workflow.patched(PATCH_HANDOFF_CHECK):
                return handle  # a run from before v5: it waited without the check's timer
            first = False
            try:
                await self._wait_until(
                    self._settled(handle, key),
                    workflow.now() + check_after,
                    operator_view.one_line(f"{call.title} hand-off check"),
                )
                return handle
            except builtins.TimeoutError:
                pass
            self._waiting(WaitingFor.RECONCILE)
            if hook:
                check = _hook_check(key, record.requests_repeated)
                answer = await self._ask_service(record, check, call.title, summary=_hook_check_summary(call.title))
            else:
                answer = await self._ask_service(record, call.check, call.title)
            self._waiting(WaitingFor.ACTIVITY_COMPLETION)
            if handle.done() or rules.inbox_entry(self.state, key) is not None or answer is None:
                return handle
            if answer.callback is not None:  # finished, and its callback got lost: the gate takes the record
                self.state.inbox.append(InboxEntry(callback=answer.callback, via=AdvancedBy.RECONCILE))
                return handle
            remaining = call.deadline - workflow.now()
            if answer.job_found or record.requests_repeated >= MAX_HANDOFF_REQUESTS or remaining <= timedelta(0):
                return handle
            workflow.logger.warning(
                "stage %r: the service has no request after the hand-off check; requesting again", key
            )
            handle.cancel()
            try:
                await handle
                return handle  # it completed before the cancellation took: that is the stage's outcome
            except (ActivityError, asyncio.CancelledError):
                pass
            record.requests_repeated += 1
            handle = self._start(
                call,
                result_type=RawValue,
                schedule_to_close_timeout=remaining,
                start_to_close_timeout=remaining,
                activity_id=_request_activity_id(key, record.requests_repeated) if hook else None,
            )

    def _start(self, call: _StageCall, **options: Any) -> workflow.ActivityHandle[Any]:
        token = PENDING_TICKET.set(call.ticket)
        try:
            # Scheduling is synchronous: the outbound interceptor reads the ticket into the activity's header.
            return workflow.start_activity(
                activity_name(call.activity),
                call.arg,
                retry_policy=self._retry_policy,
                summary=operator_view.activity_summary(
                    call.title, call.ticket.mode.value, self._watch.service if self._watch is not None else None
                ),
                **options,
            )
        finally:
            PENDING_TICKET.reset(token)

    async def _recover_after_request_timeout(self, record: StageRecord, err: ActivityError, call: _StageCall) -> bool:
        """Signal/update mode: the request activity ran out of time, but the work may still have been done.

        The service may have called back before it answered (an early callback), or done the work and lost
        the callback: use the recorded callback, else ask the service, before timing the stage out. Added
        after v3, behind a patch, so runs that timed out here before replay the old way; v5 adds the attempts
        that ran out of the stage's time while retrying (behind its own patch).
        """
        if isinstance(err.cause, TemporalTimeoutError):
            if not workflow.patched(PATCH_RECOVER_AFTER_REQUEST_TIMEOUT):
                return False
        elif not self._ran_out_of_time(err):
            return False
        return await self._recover(record, call)

    async def _recover(self, record: StageRecord, call: _StageCall) -> bool:
        """A stage activity timed out: the recorded callback, else (v5: once the deadline is reached) the service's.

        True when the stage's callback is in the inbox. A request that gave up BEFORE the deadline (its retries
        did not fit in the stage's time) may still have reached the service, whose callback may come until the
        deadline: since v5 the gate waits for it there, then asks, as it does after any other wait.
        """
        key = record.stage
        if rules.inbox_entry(self.state, key) is not None:
            return True
        remaining = (call.deadline - workflow.now()).total_seconds()
        if remaining > 0 and workflow.patched(PATCH_RECONCILE_EVERY_TIMEOUT):
            self._waiting(WaitingFor.CALLBACK)
            try:
                await workflow.wait_condition(
                    lambda: rules.inbox_entry(self.state, key) is not None,
                    timeout=remaining,
                    timeout_summary=operator_view.timer_summary(call.title, _iso(call.deadline)),
                )
                return True
            except builtins.TimeoutError:
                pass
        return await self._reconcile(record, call.check, call.title)

    async def _reconcile(self, record: StageRecord, check: _Reconcile, title: str) -> bool:
        """Before timing a stage out, ask the service whether it finished: webhooks do get lost.

        True when the stage's callback is now in the inbox (it came meanwhile, or the service's record).
        """
        if check.activity is None:
            return False
        if self._reconcile_patch is not None and not workflow.patched(self._reconcile_patch):
            return False
        key = record.stage
        self._waiting(WaitingFor.RECONCILE)
        answer = await self._ask_service(record, check, title)
        if rules.inbox_entry(self.state, key) is not None:  # the callback arrived while we were asking
            return True
        if answer is None or answer.callback is None:
            return False
        self.state.inbox.append(InboxEntry(callback=answer.callback, via=AdvancedBy.RECONCILE))
        return True

    async def _ask_service(
        self, record: StageRecord, check: _Reconcile, title: str, *, summary: str | None = None
    ) -> StageCheck | None:
        """Run the stage's reconcile activity: what the service says about the stage (None: it could not say)."""
        try:
            raw = await workflow.execute_activity(
                cast(Any, check.activity),
                check.arg,
                result_type=RawValue,  # read below: an answer that is no StageCheck must not fail the task
                start_to_close_timeout=RECONCILE_START_TO_CLOSE,
                retry_policy=RECONCILE_RETRY,
                summary=summary or operator_view.reconcile_summary(title),
            )
        except ActivityError:
            workflow.logger.warning("stage %r: could not ask the service", record.stage)
            return None
        try:
            return completions.read_check(completions.decode(raw, workflow.payload_converter()))
        except InvalidCallbackError as err:
            workflow.logger.warning("stage %r: the reconcile answer cannot be used: %s", record.stage, err)
            return None

    @staticmethod
    def _ran_out_of_time(err: ActivityError) -> bool:
        """The stage activity timed out: its own timeout, or the stage's time ran out between its retries.

        The second kind (Temporal's retry state TIMEOUT, the last attempt's error as cause) counts since v5.
        """
        if isinstance(err.cause, TemporalTimeoutError):
            return True
        return err.retry_state == RetryState.TIMEOUT and workflow.patched(PATCH_RECONCILE_EVERY_TIMEOUT)

    def _apply(self, record: StageRecord) -> None:
        entry = rules.take_callback(self.state, record.stage)
        assert entry is not None  # the callers wait for it
        rules.apply_callback(record, entry, progress=self._progress(record.stage), at=_now())
        if entry.via is AdvancedBy.RECONCILE:
            record.advanced_by = AdvancedBy.RECONCILE

    def _progress(self, key: StageKey) -> int:
        return self.state.progress.get(rules.stage_id(key), 0)

    # --- what operators see (current details: answered from memory, never a command) --------------------

    def _position(self, key: StageKey) -> tuple[int, int | None]:
        """The stage's 1-based number, and how many stages the run has when it declared them."""
        declared = self.state.declared_stages
        if declared is not None:
            ids = [rules.stage_id(s) for s in declared]
            if rules.stage_id(key) in ids:
                return ids.index(rules.stage_id(key)) + 1, len(ids)
        return len(self.state.records), None

    def _waiting(self, what: WaitingFor) -> None:
        """The gate now waits for `what`: record since when, and show it."""
        self.state.waiting_for = what
        if self._watch is not None:
            self._watch.since = _iso(workflow.now())
        self._show()

    def _show(self) -> None:
        """Keep the run's current details true: called at every change of what the gate waits for or has seen."""
        last = self.state.last_rejections[-1] if self.state.last_rejections else None
        refusal = operator_view.Refusal(last.verdict.value, last.reason, last.at) if last is not None else None
        done = sum(1 for r in self.state.records if r.outcome is not Outcome.PENDING)
        watch = self._watch
        if watch is None:
            details = operator_view.idle_details(done, refusal, finished=self._finished)
        else:
            details = operator_view.current_details(
                operator_view.StageView(
                    title=watch.call.title,
                    mode=watch.call.ticket.mode.value,
                    waiting_for=self.state.waiting_for.value,
                    service=watch.service,
                    since=watch.since,
                    deadline=_iso(watch.call.deadline),
                    progress=self._progress(watch.record.stage),
                    attempts=watch.record.attempts,
                    refusal=refusal,
                    stages_done=done,
                )
            )
        workflow.set_current_details(details)

    # --- run end and continue-as-new ----------------------------------------------------------------------

    def carry(self) -> GateState:
        """The whole gate state for the next run (pass it to `StageGate(state)` there)."""
        return rules.carry(self.state)

    async def finish(self) -> None:
        """Before the run returns: let handlers that are still running finish (no unfinished-handler warnings)."""
        self.state.waiting_for = WaitingFor.NOTHING
        self._finished = True
        self._show()
        await workflow.wait_condition(workflow.all_handlers_finished)


@dataclass(frozen=True)
class _Reconcile:
    """The stage's optional reconcile activity and its argument."""

    activity: StageActivity | None
    arg: Any


@dataclass(frozen=True)
class _StageCall:
    """What one `call_and_wait` fixes for its whole stage: the activity, its header ticket, budget and deadline."""

    activity: StageActivity
    arg: Any
    ticket: StageTicket
    budget: timedelta
    deadline: datetime
    check: _Reconcile
    title: str  # `stage 2 of 3 `kyc``, for summaries and current details


@dataclass
class _Watch:
    """The open stage as operators see it: what it waits on and since when (the gate's memory, not its state)."""

    call: _StageCall
    record: StageRecord
    service: str | None
    since: str


def activity_name(activity: StageActivity) -> str:
    """The registered name of an activity given as a function or a name.

    The gate starts activities by name: given a function, the SDK would decode the result as the function's
    declared return type, but a stage activity's result is the gate's envelope (StageAccepted/-Completion).
    """
    if isinstance(activity, str):
        return activity
    return registered_activity_name(activity)


def _request_activity_id(key: StageKey, repeated: int) -> str:
    """v9: the ID of a hook stage's token activity (the first request, then each one made again after a check).

    Named, unlike the SDK's sequence numbers, so that the hand-off check can find the activity among the run's
    pending ones; unique within the run (a stage runs once per run; continue-as-new starts a new run).
    """
    return f"stage-{rules.stage_id(key)}-request-{repeated + 1}"


def _hook_check(key: StageKey, repeated: int) -> _Reconcile:
    """v9: the hand-off check of a token-mode hook stage, as the reconcile the hand-off loop runs."""
    info = workflow.info()
    return _Reconcile(
        ACTIVITY_HOOK_HANDOFF_CHECK,
        HookHandoffCheck(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            activity_id=_request_activity_id(key, repeated),
            stage=rules.stage_id(key),
        ),
    )


def _hook_check_summary(title: str) -> str:
    return operator_view.one_line(f"is {title} registered with its hook key? (hand-off check)")


def stage_failure(record: StageRecord, *details: Any) -> ApplicationError:
    """The typed, non-retryable error for a stage that did not complete (StageFailed/-Cancelled/-TimedOut)."""
    if record.ok:
        raise ValueError(f"stage {record.stage!r} completed: there is no failure to raise")
    error_type = _FAILURE_TYPES.get(record.outcome, ERR_STAGE_FAILED)
    message = f"stage {record.stage} {record.outcome.value.replace('_', ' ')}: {record.error}"
    return ApplicationError(message, *details, type=error_type, non_retryable=True)


def _hook_wait(stage: StageKey, source: str | None, key: str | int | None, key_path: str | None) -> HookWait | None:
    if source is None:
        if key is not None or key_path is not None:
            raise ValueError(f"stage {stage!r}: a hook key needs its source (source=...)")
        return None
    if key is not None and key_path is not None:
        raise ValueError(f"stage {stage!r}: give at most one of key and key_path")
    return HookWait(source=source, key=None if key is None else str(key), key_path=key_path)


def _checked_shape(key: StageKey, shape: CallbackShape | None) -> CallbackShape | None:
    if shape is not None and not isinstance(shape, CallbackShape):
        raise TypeError(f"stage {key!r}: callback must be a CallbackShape, got {type(shape).__name__}")
    return shape


def _time_out(record: StageRecord, budget: timedelta) -> None:
    record.outcome = Outcome.TIMED_OUT
    record.error = f"no callback for stage {record.stage} within {budget.total_seconds():g}s"
    record.advanced_by = AdvancedBy.TIMEOUT
    record.advanced_at = _now()


def _end_from_activity_error(record: StageRecord, err: ActivityError) -> None:
    """The stage activity itself ended badly: timed out, cancelled, or failed with the service's error."""
    cause = err.cause
    record.attempts = max(record.attempts, 1)
    record.advanced_at = _now()
    record.advanced_by = AdvancedBy.ACTIVITY if record.mode is Mode.TOKEN else AdvancedBy.REQUEST
    if isinstance(cause, TemporalTimeoutError):
        record.outcome = Outcome.TIMED_OUT
        record.error = f"stage {record.stage} timed out: {cause.message or cause.type}"
        record.advanced_by = AdvancedBy.TIMEOUT
    elif isinstance(cause, CancelledError):
        record.outcome = Outcome.CANCELLED
        record.error = f"service cancelled stage {record.stage}"
    elif isinstance(cause, ApplicationError) and cause.type == ERR_SERVICE_REPORTED_CANCELLATION:
        record.outcome = Outcome.CANCELLED
        record.error = cause.message
    else:
        record.outcome = Outcome.FAILED
        record.error = cause.message if isinstance(cause, ApplicationError) else str(cause or err)


def _end_unusable(record: StageRecord, err: InvalidCallbackError, what: str) -> None:
    """The stage's activity was completed (by hand, or by another SDK) with something the gate cannot use."""
    record.attempts = max(record.attempts, 1 + record.requests_repeated)
    record.outcome = Outcome.FAILED
    record.error = (
        f"stage {record.stage}: {what} was completed with a result the gate cannot use: {err} "
        "(the forms it takes: docs/gate.md, completing a stage by hand)"
    )
    record.advanced_by = AdvancedBy.MANUAL
    record.advanced_at = _now()
    workflow.logger.warning("%s", record.error)


def _now() -> str:
    return workflow.now().isoformat()


def _iso(moment: datetime) -> str:
    """A deadline to the second (summaries and details are for people)."""
    return moment.replace(microsecond=0).isoformat()
