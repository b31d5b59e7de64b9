"""A deliberately non-deterministic copy of the workflow, for proving the replay check can fail.

Same workflow name, same behaviour, except for ONE extra command: a short timer right before stage 1's
first command. Replaying a history that reached stage 1 must hit a different command than the one
recorded there (stage 1's search attribute upsert) and fail with a NondeterminismError.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.payloads import (
        ACTIVITY_CHECK_STAGE,
        WORKFLOW_NAME,
        RunResult,
        StageCheck,
        StagedRunInput,
        StageRecord,
        StageRequest,
    )
    from app.workflow import StagedCallbackWorkflow

EXTRA_TIMER_SECONDS = 0.01


@workflow.defn(name=WORKFLOW_NAME)
class ChangedStagedCallbackWorkflow(StagedCallbackWorkflow):
    """StagedCallbackWorkflow plus one timer before stage 1."""

    @workflow.run
    async def run(self, inp: StagedRunInput) -> RunResult:
        """Unchanged: the SDK wants the run method on the decorated class itself."""
        return await super().run(inp)

    async def _run_stage(self, inp: StagedRunInput, stage: int) -> None:
        if stage == 1:
            await workflow.sleep(EXTRA_TIMER_SECONDS)  # the one change: a command the histories never saw
        await super()._run_stage(inp, stage)


@workflow.defn(name=WORKFLOW_NAME)
class UnpatchedV2Workflow(StagedCallbackWorkflow):
    """What v2 would be WITHOUT `workflow.patched`: it always asks the service before timing a stage out."""

    @workflow.run
    async def run(self, inp: StagedRunInput) -> RunResult:
        """Unchanged: the SDK wants the run method on the decorated class itself."""
        return await super().run(inp)

    async def _reconcile(self, record: StageRecord, request: StageRequest) -> bool:
        await workflow.execute_activity(
            ACTIVITY_CHECK_STAGE, request, result_type=StageCheck, start_to_close_timeout=timedelta(seconds=15)
        )
        return False
