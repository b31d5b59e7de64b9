"""A deliberately non-deterministic copy of the workflow, for proving the replay check can fail.

Same workflow name, same behaviour, except for ONE extra command: a short timer right before stage 1's
first command. Replaying a history that reached stage 1 must hit a different command than the one
recorded there (stage 1's search attribute upsert) and fail with a NondeterminismError.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.payloads import WORKFLOW_NAME, RunResult, StagedRunInput
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
