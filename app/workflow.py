"""The staged callback workflow: N stages, each a short activity then a gate, in signal or token mode."""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime, timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from app import search_attributes
    from app.payloads import (
        ACTIVITY_AWAIT_STAGE_CALLBACK,
        ACTIVITY_CHECK_STAGE,
        ACTIVITY_REQUEST_STAGE,
        ERR_SERVICE_REJECTED_REQUEST,
        ERR_SERVICE_REPORTED_CANCELLATION,
        ERR_SERVICE_REPORTED_FAILURE,
        ERR_STAGE_CANCELLED,
        ERR_STAGE_FAILED,
        ERR_STAGE_TIMED_OUT,
        QUERY_STATUS,
        SIGNAL_ADVANCE_STAGE,
        WORKFLOW_NAME,
        CallbackStatus,
        CarriedState,
        Mode,
        Outcome,
        RunResult,
        RunStatus,
        StageCallback,
        StageCheck,
        StageCompletion,
        StagedRunInput,
        StageRecord,
        StageRequest,
        StageRequestAccepted,
    )

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
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)

# Patch IDs: each marks a change to the commands the workflow issues. Running executions that started
# before a change replay the old branch; see "Changing a workflow that has running executions" in the README.
PATCH_RECONCILE_BEFORE_TIMEOUT = "reconcile-before-timeout"


class StageEndedError(Exception):
    """Internal: a stage ended other than completed; carries the ApplicationError type to fail with."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@workflow.defn(name=WORKFLOW_NAME)
class StagedCallbackWorkflow:
    """Runs `stages` stages; each asks the external service for work and waits for its callback."""

    @workflow.init
    def __init__(self, inp: StagedRunInput) -> None:
        # Takes the input so that signals handled before `run` starts (they come first in an activation)
        # see the real stage count and, after continue-as-new, the carried dedupe state.
        self._input = inp
        self._records: list[StageRecord] = []
        self._current = 0
        self._waiting_for = "start"
        # callback_id -> stage: only IDs of stages not yet passed need carrying across continue-as-new.
        self._seen_callback_ids: dict[str, int] = {}
        self._inbox: dict[int, StageCallback] = {}
        self._early_progress: dict[int, int] = {}
        self._duplicates_ignored = 0
        self._started_at = ""
        self._runs = 1
        self._first_stage = self._restore(inp.carried)

    # --- messages -------------------------------------------------------------------------------

    @workflow.signal(name=SIGNAL_ADVANCE_STAGE)
    def advance_stage(self, callback: StageCallback) -> None:
        """Record a callback. Handlers only record; the run loop decides what it means."""
        if callback.callback_id is not None:
            if callback.callback_id in self._seen_callback_ids:
                self._ignore_duplicate(callback, "callback_id already seen")
                return
            self._seen_callback_ids[callback.callback_id] = callback.stage
        stage = callback.stage
        if stage < 1 or stage > self._input.stages:
            workflow.logger.warning("advance_stage for stage %s ignored: no such stage", stage)
            self._duplicates_ignored += 1
            return
        if stage < self._current or stage in self._inbox or self._stage_resolved(stage):
            self._ignore_duplicate(callback, "stage already passed or already has its outcome")
            return
        if callback.status is CallbackStatus.PROGRESS:
            self._early_progress[stage] = self._early_progress.get(stage, 0) + 1
            return
        self._inbox[stage] = callback

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> RunStatus:
        """Mode, current stage, per-stage records and what the run waits for."""
        return RunStatus(
            mode=self._input.mode,
            stages_total=self._input.stages,
            current_stage=self._current,
            waiting_for=self._waiting_for,
            stages=self._records_with_progress(),
            early_callbacks=sorted(s for s in self._inbox if s > self._current),
            duplicates_ignored=self._duplicates_ignored,
            runs=self._runs,
        )

    # --- run ------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: StagedRunInput) -> RunResult:
        """Run the stages in order; fail the run with a typed ApplicationError when a stage does not complete."""
        _validate(inp)
        first_stage = self._first_stage
        workflow.upsert_search_attributes([search_attributes.MODE.value_set(inp.mode.value)])
        for stages_this_run, stage in enumerate(range(first_stage, inp.stages + 1)):
            if self._should_continue_as_new(inp, stages_this_run):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry(inp, next_stage=stage))
            try:
                await self._run_stage(inp, stage)
            except StageEndedError as ended:
                self._waiting_for = "nothing: the run has ended"
                await workflow.wait_condition(workflow.all_handlers_finished)
                raise ApplicationError(
                    ended.message, self._result(), type=ended.error_type, non_retryable=True
                ) from None
        self._waiting_for = "nothing: all stages completed"
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result()

    async def _run_stage(self, inp: StagedRunInput, stage: int) -> None:
        record = StageRecord(stage=stage, action=inp.action_for(stage), requested_at=_now())
        self._records.append(record)
        self._current = stage
        workflow.upsert_search_attributes([search_attributes.STAGE.value_set(stage)])
        deadline = workflow.now() + timedelta(seconds=inp.stage_timeout_seconds)
        info = workflow.info()
        request = StageRequest(
            mode=inp.mode,
            workflow_id=info.workflow_id,
            stage=stage,
            action=record.action,
            time_to_request=inp.time_to_request,
            time_to_callback=inp.time_to_callback,
            # Stable across retries and continue-as-new, distinct for a reused workflow ID.
            idempotency_key=f"{info.workflow_id}/{info.first_execution_run_id}/{stage}",
            callback_deadline_epoch=deadline.timestamp(),
            faults=inp.faults,
        )
        if inp.mode is Mode.SIGNAL:
            await self._signal_stage(inp, record, request, deadline)
        else:
            await self._token_stage(inp, record, request)

    async def _signal_stage(
        self, inp: StagedRunInput, record: StageRecord, request: StageRequest, deadline: datetime
    ) -> None:
        stage = record.stage
        self._waiting_for = f"the service to accept the stage {stage} request"
        try:
            accepted = await workflow.execute_activity(
                ACTIVITY_REQUEST_STAGE,
                request,
                result_type=StageRequestAccepted,
                schedule_to_close_timeout=timedelta(seconds=inp.stage_timeout_seconds),
                start_to_close_timeout=min(REQUEST_START_TO_CLOSE, timedelta(seconds=inp.stage_timeout_seconds)),
                retry_policy=SERVICE_RETRY,
            )
        except ActivityError as err:
            self._end_from_activity_error(record, err)
        record.attempts = accepted.attempt
        record.accepted_at = accepted.accepted_at
        self._waiting_for = f"an advance_stage signal for stage {stage}"
        remaining = (deadline - workflow.now()).total_seconds()
        try:
            # Stage gate: only a recorded callback for this stage opens it.
            await workflow.wait_condition(lambda: stage in self._inbox, timeout=max(remaining, 0.001))
        except builtins.TimeoutError:
            if not await self._reconcile(record, request):
                self._end(
                    record, Outcome.TIMED_OUT, f"no callback for stage {stage} within {inp.stage_timeout_seconds:g}s"
                )
            self._apply_callback(record, self._inbox[stage], advanced_by="reconcile")
            return
        self._apply_callback(record, self._inbox[stage], advanced_by="signal")

    async def _token_stage(self, inp: StagedRunInput, record: StageRecord, request: StageRequest) -> None:
        stage = record.stage
        self._waiting_for = f"async completion of the stage {stage} activity (or an advance_stage signal)"
        timeout = timedelta(seconds=inp.stage_timeout_seconds)
        handle = workflow.start_activity(
            ACTIVITY_AWAIT_STAGE_CALLBACK,
            request,
            result_type=StageCompletion,
            # The activity stays open until the callback completes it: its timeout is the stage gate.
            schedule_to_close_timeout=timeout,
            start_to_close_timeout=timeout,
            retry_policy=SERVICE_RETRY,
        )
        await workflow.wait_condition(lambda: handle.done() or stage in self._inbox)
        if not handle.done():
            # Advanced by hand with the signal: stop waiting for the activity.
            handle.cancel()
            try:
                await handle
            except (ActivityError, asyncio.CancelledError):
                pass
            record.attempts = max(record.attempts, 1)
            self._apply_callback(record, self._inbox[stage], advanced_by="signal")
            return
        try:
            completion = handle.result()
        except ActivityError as err:
            if isinstance(err.cause, TemporalTimeoutError) and await self._reconcile(record, request):
                record.attempts = max(record.attempts, 1)
                self._apply_callback(record, self._inbox[stage], advanced_by="reconcile")
                return
            self._end_from_activity_error(record, err)
        record.attempts = completion.attempt
        record.callback_at = completion.callback_at
        record.progress = max(completion.progress, self._early_progress.get(stage, 0))
        record.result = completion.result
        record.outcome = Outcome.COMPLETED
        record.advanced_at = _now()
        record.advanced_by = "activity"

    async def _reconcile(self, record: StageRecord, request: StageRequest) -> bool:
        """Before timing a stage out, ask the service whether it finished: webhooks do get lost.

        Added after the v1 histories were recorded, behind `workflow.patched`: runs that reached a timeout
        under the old code replay without the extra activity. True when the stage's outcome was recovered.
        """
        if not workflow.patched(PATCH_RECONCILE_BEFORE_TIMEOUT):
            return False
        stage = record.stage
        self._waiting_for = f"the service's own record of stage {stage} (no callback came in time)"
        try:
            check = await workflow.execute_activity(
                ACTIVITY_CHECK_STAGE,
                request,
                result_type=StageCheck,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=CHECK_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("stage %s: could not ask the service, timing out", stage)
            return False
        if stage in self._inbox:  # the callback arrived while we were asking
            return True
        if check.callback is None:
            return False
        self._inbox[stage] = check.callback
        return True

    # --- outcomes -------------------------------------------------------------------------------

    def _apply_callback(self, record: StageRecord, callback: StageCallback, *, advanced_by: str) -> None:
        record.callback_at = callback.received_at
        record.progress = max(self._early_progress.get(record.stage, 0), callback.progress or 0)
        record.result = callback.result
        record.advanced_by = advanced_by if callback.callback_id else "manual signal"
        if callback.status is CallbackStatus.FAILED:
            self._end(record, Outcome.FAILED, callback.error or f"service reported stage {record.stage} failed")
        if callback.status is CallbackStatus.CANCELLED:
            self._end(record, Outcome.CANCELLED, callback.error or f"service cancelled stage {record.stage}")
        record.outcome = Outcome.COMPLETED
        record.advanced_at = _now()

    def _end_from_activity_error(self, record: StageRecord, err: ActivityError) -> NoReturn:
        cause = err.cause
        record.attempts = max(record.attempts, 1)
        if isinstance(cause, TemporalTimeoutError):
            self._end(record, Outcome.TIMED_OUT, f"stage {record.stage} timed out: {cause.message or cause.type}")
        if isinstance(cause, CancelledError):
            self._end(record, Outcome.CANCELLED, f"service cancelled stage {record.stage}")
        if isinstance(cause, ApplicationError) and cause.type == ERR_SERVICE_REPORTED_CANCELLATION:
            self._end(record, Outcome.CANCELLED, cause.message)
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        self._end(record, Outcome.FAILED, message)

    def _end(self, record: StageRecord, outcome: Outcome, message: str) -> NoReturn:
        record.outcome = outcome
        record.error = message
        record.advanced_at = _now()
        error_type = {
            Outcome.TIMED_OUT: ERR_STAGE_TIMED_OUT,
            Outcome.CANCELLED: ERR_STAGE_CANCELLED,
        }.get(outcome, ERR_STAGE_FAILED)
        raise StageEndedError(error_type, f"stage {record.stage} {outcome.value.replace('_', ' ')}: {message}")

    # --- state ----------------------------------------------------------------------------------

    def _ignore_duplicate(self, callback: StageCallback, why: str) -> None:
        self._duplicates_ignored += 1
        for record in self._records:
            if record.stage == callback.stage:
                record.duplicates_ignored += 1
        workflow.logger.info("advance_stage for stage %s ignored: %s", callback.stage, why)

    def _stage_resolved(self, stage: int) -> bool:
        return any(r.stage == stage and r.outcome is not Outcome.PENDING for r in self._records)

    def _records_with_progress(self) -> list[StageRecord]:
        # Progress signals for the current stage land in _early_progress until the stage resolves.
        out: list[StageRecord] = []
        for record in self._records:
            if record.outcome is Outcome.PENDING:
                progress = max(record.progress, self._early_progress.get(record.stage, 0))
                out.append(StageRecord(**{**record.__dict__, "progress": progress}))
            else:
                out.append(record)
        return out

    def _result(self) -> RunResult:
        return RunResult(
            mode=self._input.mode,
            stages_total=self._input.stages,
            stages=self._records_with_progress(),
            started_at=self._started_at,
            finished_at=_now(),
            duplicates_ignored=self._duplicates_ignored,
            runs=self._runs,
        )

    def _restore(self, carried: CarriedState | None) -> int:
        if carried is None:
            self._started_at = _now()
            return 1
        self._records = list(carried.records)
        self._seen_callback_ids = dict.fromkeys(carried.seen_callback_ids, carried.next_stage)
        self._inbox = {cb.stage: cb for cb in carried.inbox}
        self._early_progress = {int(k): v for k, v in carried.early_progress.items()}
        self._duplicates_ignored = carried.duplicates_ignored
        self._started_at = carried.started_at or _now()
        self._runs = carried.runs + 1
        self._current = carried.next_stage - 1
        return carried.next_stage

    def _carry(self, inp: StagedRunInput, *, next_stage: int) -> StagedRunInput:
        carried = CarriedState(
            next_stage=next_stage,
            records=self._records,
            # Anything for a stage already passed is dropped by the stage check, so only later ones travel:
            # the carried state stays small however long the run.
            seen_callback_ids=sorted(cid for cid, stage in self._seen_callback_ids.items() if stage >= next_stage),
            inbox=[cb for stage, cb in self._inbox.items() if stage >= next_stage],
            early_progress={str(k): v for k, v in self._early_progress.items() if k >= next_stage},
            duplicates_ignored=self._duplicates_ignored,
            started_at=self._started_at,
            runs=self._runs,
        )
        return StagedRunInput(**{**inp.__dict__, "carried": carried})

    def _should_continue_as_new(self, inp: StagedRunInput, stages_this_run: int) -> bool:
        if stages_this_run == 0:
            return False
        if inp.continue_as_new_after_stages and stages_this_run >= inp.continue_as_new_after_stages:
            return True
        return workflow.info().is_continue_as_new_suggested()


def _now() -> str:
    return workflow.now().isoformat()


def _validate(inp: StagedRunInput) -> None:
    problems: list[str] = []
    if inp.stages < 1:
        problems.append("stages must be at least 1")
    if len(inp.actions) not in (1, inp.stages):
        problems.append(f"actions must hold 1 or {inp.stages} entries, got {len(inp.actions)}")
    if inp.stage_timeout_seconds <= 0:
        problems.append("stage_timeout_seconds must be positive")
    if inp.time_to_request < 0 or inp.time_to_callback < 0:
        problems.append("time_to_request and time_to_callback must not be negative")
    if problems:
        raise ApplicationError("invalid input: " + "; ".join(problems), type="InvalidInput", non_retryable=True)
