"""The demo workflow, one user of the gate layer: N numbered stages against the service mock, in any mode."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from app.demo.legacy_state import gate_state_from_carried
    from app.demo.payloads import (
        ACTIVITY_AWAIT_STAGE_CALLBACK,
        ACTIVITY_CHECK_STAGE,
        ACTIVITY_REQUEST_STAGE,
        QUERY_STATUS,
        WORKFLOW_NAME,
        RunResult,
        RunStatus,
        StagedRunInput,
        StageRequest,
    )
    from app.gate import run_attributes
    from app.gate.rules import records_with_progress, status_of
    from app.gate.stage_gate import StageGate, stage_failure
    from app.gate.types import ERR_INVALID_INPUT, GateState, Mode, StageRecord

# Patch IDs: each marks a change to the commands the workflow issues. Running executions that started
# before a change replay the old branch; see docs/versioning.md.
PATCH_RECONCILE_BEFORE_TIMEOUT = "reconcile-before-timeout"
REQUEST_MARGIN_SECONDS = 10.0
SERVICE_LABEL = "POST service mock"


@workflow.defn(name=WORKFLOW_NAME)
class StagedCallbackWorkflow:
    """Runs `stages` stages; each asks the service mock for work and waits at the gate for its callback."""

    # Runs that reached a timeout before v2 replay without the reconcile activity.
    RECONCILE_PATCH: str | None = PATCH_RECONCILE_BEFORE_TIMEOUT

    @workflow.init
    def __init__(self, inp: StagedRunInput) -> None:
        # The gate is made here, not in `run`: signals handled before `run` starts (they come first in an
        # activation) then see the real stage list and, after continue-as-new, the carried dedupe state.
        self._input = inp
        state: GateState | None = inp.gate
        if state is None and inp.carried is not None:
            state = gate_state_from_carried(inp.carried, stages_total=inp.stages)
        self._gate = StageGate(
            state,
            mode=inp.mode,
            stages=range(1, max(inp.stages, 0) + 1),
            # The service mock holds a request for time_to_request: one attempt needs no longer than that
            # plus a margin, so a worker that dies mid-request is noticed in seconds, not a minute.
            request_timeout=timedelta(seconds=inp.time_to_request + REQUEST_MARGIN_SECONDS),
            # Token mode: by then a live worker has made its request, so a service without it means a dead one.
            handoff_check=timedelta(
                seconds=inp.time_to_request + inp.faults.pause_before_request_seconds + REQUEST_MARGIN_SECONDS
            ),
            reconcile_patch=self.RECONCILE_PATCH,
        )

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> RunStatus:
        """Mode, current stage, per-stage records, what the run waits for, refused messages."""
        gate = status_of(self._gate.state)
        return RunStatus(
            mode=self._input.mode,
            stages_total=self._input.stages,
            current_stage=gate.current_stage,
            waiting_for=gate.waiting_for,
            stages=gate.stages,
            early_callbacks=gate.early_callbacks,
            duplicates_ignored=gate.duplicates_ignored,
            runs=gate.runs,
            rejected=gate.rejected,
            last_rejections=gate.last_rejections,
            actions=self._input.actions,
        )

    @workflow.run
    async def run(self, inp: StagedRunInput) -> RunResult:
        """Run the stages in order; the first stage that does not complete fails the run with its typed error."""
        problems = validate_input(inp)
        if problems:
            raise ApplicationError("invalid input: " + "; ".join(problems), type=ERR_INVALID_INPUT, non_retryable=True)
        first_stage = len(self._gate.state.records) + 1
        run_attributes.record_mode(inp.mode.value)
        for stages_this_run, stage in enumerate(range(first_stage, inp.stages + 1)):
            if self._should_continue_as_new(inp, stages_this_run):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(replace(inp, carried=None, gate=self._gate.carry()))
            record = await self._run_stage(inp, stage)
            if not record.ok:
                # The one place a stage's outcome becomes the run's failure.
                await self._gate.finish()
                raise stage_failure(record, self._result())
        await self._gate.finish()
        return self._result()

    async def _run_stage(self, inp: StagedRunInput, stage: int) -> StageRecord:
        run_attributes.record_stage(stage)
        mode = inp.mode_for(stage)
        info = workflow.info()
        request = StageRequest(
            mode=mode,
            workflow_id=info.workflow_id,
            stage=stage,
            action=inp.action_for(stage),
            time_to_request=inp.time_to_request,
            time_to_callback=inp.time_to_callback,
            idempotency_key=f"{info.workflow_id}/{info.first_execution_run_id}/{stage}",
            callback_deadline_epoch=(workflow.now() + timedelta(seconds=inp.stage_timeout_seconds)).timestamp(),
            faults=inp.faults,
        )
        return await self._gate.call_and_wait(
            ACTIVITY_AWAIT_STAGE_CALLBACK if mode is Mode.TOKEN else ACTIVITY_REQUEST_STAGE,
            request,
            stage=stage,
            timeout=inp.stage_timeout_seconds,
            mode=mode,
            reconcile=ACTIVITY_CHECK_STAGE,
            # The worker's SERVICE_URL is not the workflow's to read: the activity reports the host it called.
            service=SERVICE_LABEL,
        )

    def _result(self) -> RunResult:
        state = self._gate.state
        return RunResult(
            mode=self._input.mode,
            stages_total=self._input.stages,
            stages=records_with_progress(state),
            started_at=state.started_at or "",
            finished_at=workflow.now().isoformat(),
            duplicates_ignored=state.duplicates_ignored,
            runs=state.runs,
            rejected=state.rejected,
            actions=self._input.actions,
        )

    def _should_continue_as_new(self, inp: StagedRunInput, stages_this_run: int) -> bool:
        if stages_this_run == 0:
            return False
        if inp.continue_as_new_after_stages and stages_this_run >= inp.continue_as_new_after_stages:
            return True
        return workflow.info().is_continue_as_new_suggested()


def validate_input(inp: StagedRunInput) -> list[str]:
    """What is wrong with a demo run's input (empty when nothing): checked before any command is issued."""
    problems: list[str] = []
    if inp.stages < 1:
        problems.append("stages must be at least 1")
    if len(inp.actions) not in (1, inp.stages):
        problems.append(f"actions must hold 1 or {inp.stages} entries, got {len(inp.actions)}")
    if inp.stage_modes and len(inp.stage_modes) not in (1, inp.stages):
        problems.append(f"stage_modes must be empty or hold 1 or {inp.stages} entries, got {len(inp.stage_modes)}")
    if inp.stage_timeout_seconds <= 0:
        problems.append("stage_timeout_seconds must be positive")
    if inp.time_to_request < 0 or inp.time_to_callback < 0:
        problems.append("time_to_request and time_to_callback must not be negative")
    return problems
