"""A deliberately changed copy of the pipeline workflow, for proving the pipeline replay check can fail.

Same behaviour except for ONE extra command, a short timer before the first stage: replaying any recorded
pipeline run must then hit a different command than the one recorded and fail with a NondeterminismError.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.gate.types import StageRecord
    from app.pipeline.types import PIPELINE_WORKFLOW_NAME, PipelineResult, PipelineRunInput, StageSpec
    from app.pipeline.workflow import PipelineWorkflow

EXTRA_TIMER_SECONDS = 0.01


@workflow.defn(name=PIPELINE_WORKFLOW_NAME)
class ChangedPipelineWorkflow(PipelineWorkflow):
    """PipelineWorkflow plus one timer before the first stage."""

    @workflow.run
    async def run(self, inp: PipelineRunInput) -> PipelineResult:
        """Unchanged: the SDK wants the run method on the decorated class itself."""
        return await super().run(inp)

    async def _run_stage(self, inp: PipelineRunInput, spec: StageSpec) -> StageRecord:
        if spec is inp.pipeline.stages[0]:
            await workflow.sleep(EXTRA_TIMER_SECONDS)  # the one change: a command the histories never saw
        return await super()._run_stage(inp, spec)
