"""Deliberately changed copies of the demo workflow, for proving the replay checks can fail.

`ChangedStagedCallbackWorkflow`: same behaviour except for ONE extra command, a short timer right before
stage 1's first command. Replaying a history that reached stage 1 must hit a different command than the
one recorded there (stage 1's search attribute upsert; from v6 on, its stage activity) and fail with a
NondeterminismError.
`UnpatchedV2Workflow`: what v2 would be WITHOUT `workflow.patched`: it always asks the service before
timing a stage out, so v1 runs that timed out no longer replay.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.demo.payloads import WORKFLOW_NAME, RunResult, StagedRunInput
    from app.demo.workflow import StagedCallbackWorkflow
    from app.gate.types import StageRecord

EXTRA_TIMER_SECONDS = 0.01


@workflow.defn(name=WORKFLOW_NAME)
class ChangedStagedCallbackWorkflow(StagedCallbackWorkflow):
    """StagedCallbackWorkflow plus one timer before stage 1."""

    @workflow.run
    async def run(self, inp: StagedRunInput) -> RunResult:
        """Unchanged: the SDK wants the run method on the decorated class itself."""
        return await super().run(inp)

    async def _run_stage(self, inp: StagedRunInput, stage: int) -> StageRecord:
        if stage == 1:
            await workflow.sleep(EXTRA_TIMER_SECONDS)  # the one change: a command the histories never saw
        return await super()._run_stage(inp, stage)


@workflow.defn(name=WORKFLOW_NAME)
class UnpatchedV2Workflow(StagedCallbackWorkflow):
    """The reconcile step without its patch guard."""

    RECONCILE_PATCH = None

    @workflow.run
    async def run(self, inp: StagedRunInput) -> RunResult:
        """Unchanged: the SDK wants the run method on the decorated class itself."""
        return await super().run(inp)
