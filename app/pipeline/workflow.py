"""The generic pipeline workflow: runs the stages of a pipeline definition (carried in its input) through the gate."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from app.errors import PathError
    from app.gate import paths, run_attributes
    from app.gate.rules import record_for, records_with_progress, stage_id, status_of
    from app.gate.shapes import FetchContext
    from app.gate.stage_gate import StageGate, stage_failure
    from app.gate.types import ERR_INVALID_INPUT, OWN_STAGE_ID, Outcome, StageRecord
    from app.pipeline.file import definition_problems
    from app.pipeline.operator import declared_service
    from app.pipeline.types import (
        ACTIVITY_PIPELINE_REQUEST,
        ACTIVITY_PIPELINE_STATUS,
        PIPELINE_WORKFLOW_NAME,
        QUERY_PIPELINE_STATUS,
        HttpStageCall,
        OnFailure,
        PipelineResult,
        PipelineRunInput,
        PipelineStatus,
        StageOutput,
        StageSpec,
        StatusCheckCall,
        wait_key_ref,
    )


@workflow.defn(name=PIPELINE_WORKFLOW_NAME)
class PipelineWorkflow:
    """Each stage: the generic HTTP activity makes the stage's request, the gate waits for its callback."""

    @workflow.init
    def __init__(self, inp: PipelineRunInput) -> None:
        # Made here, not in `run`: messages handled before `run` starts already find the gate and its stages.
        self._input = inp
        self._problems = definition_problems(inp.pipeline)
        names = None if self._problems else [s.name for s in inp.pipeline.stages]
        self._gate = StageGate(inp.gate, mode=inp.mode, stages=names)

    @workflow.query(name=QUERY_PIPELINE_STATUS)
    def status(self) -> PipelineStatus:
        """Which pipeline, its stage names, where the gate is and what it waits for."""
        gate = status_of(self._gate.state)
        return PipelineStatus(
            pipeline=self._input.pipeline.name,
            mode=self._input.mode,
            stage_names=[s.name for s in self._input.pipeline.stages],
            current_stage=gate.current_stage,
            waiting_for=gate.waiting_for,
            stages=gate.stages,
            duplicates_ignored=gate.duplicates_ignored,
            rejected=gate.rejected,
            last_rejections=gate.last_rejections,
            runs=gate.runs,
        )

    @workflow.run
    async def run(self, inp: PipelineRunInput) -> PipelineResult:
        """Run the stages in order; a stage that does not complete fails the run unless it says `continue`."""
        if self._problems:
            message = "invalid pipeline definition: " + "; ".join(self._problems)
            raise ApplicationError(message, type=ERR_INVALID_INPUT, non_retryable=True)
        run_attributes.record_mode(inp.mode.value)
        stages_this_run = 0
        for number, spec in enumerate(inp.pipeline.stages, start=1):
            if record_for(self._gate.state, spec.name) is not None:
                continue  # ran before continue-as-new
            if stages_this_run and workflow.info().is_continue_as_new_suggested():
                # The gate's handlers are synchronous: this holds at once; the timeout only bounds the wait.
                await workflow.wait_condition(workflow.all_handlers_finished, timeout=timedelta(seconds=60))
                workflow.continue_as_new(replace(inp, gate=self._gate.carry()))
            run_attributes.record_stage(number)
            record = await self._run_stage(inp, spec)
            stages_this_run += 1
            if not record.ok and spec.on_failure is OnFailure.FAIL:
                # The one place a stage's outcome becomes the run's failure.
                await self._gate.finish()
                raise stage_failure(record, self._result())
        await self._gate.finish()
        return self._result()

    async def _run_stage(self, inp: PipelineRunInput, spec: StageSpec) -> StageRecord:
        earlier = {name: self._output(name) for name in spec.uses_stages}
        hook_key: str | None = None
        hook_key_path: str | None = None
        if spec.wait is not None:  # a fixed endpoint: the key up front, or from the answer (in the worker)
            ref = wait_key_ref(spec.wait.key)
            if ref is None:
                hook_key = spec.wait.key
            elif ref[0] == "input":
                hook_key = _input_key(inp, spec.name, ref[1])
            elif ref[0] == "idempotency_key":
                hook_key = OWN_STAGE_ID  # the gate puts the stage's own ID in its place
            else:
                hook_key_path = ref[1]
        call = HttpStageCall(
            pipeline=inp.pipeline.name,
            stage=spec.name,
            request=spec.request,
            input=inp.input,
            earlier=earlier,
            answer_id=spec.answer_id,
            hook_key_path=hook_key_path,
        )
        check: StatusCheckCall | None = None
        if spec.status is not None:
            info = workflow.info()
            check = StatusCheckCall(
                pipeline=inp.pipeline.name,
                stage=spec.name,
                status=spec.status,
                # The gate's own key for this stage (see StageGate.call_and_wait): what the request carried.
                idempotency_key=f"{info.workflow_id}/{info.first_execution_run_id}/{stage_id(spec.name)}",
                workflow_id=info.workflow_id,
                input=inp.input,
                earlier=earlier,
            )
        return await self._gate.call_and_wait(
            ACTIVITY_PIPELINE_REQUEST,
            call,
            stage=spec.name,
            timeout=spec.timeout_seconds,
            mode=spec.mode,
            reconcile=ACTIVITY_PIPELINE_STATUS if check is not None else None,
            reconcile_arg=check,
            service=declared_service(spec.request),
            callback=spec.callback,
            fetch=spec.fetch,
            fetch_context=FetchContext(inp.input, {n: asdict(o) for n, o in earlier.items()}) if spec.fetch else None,
            source=spec.wait.source if spec.wait is not None else None,
            key=hook_key,
        )

    def _output(self, name: str) -> StageOutput:
        record = record_for(self._gate.state, name)
        if record is None:  # validation only lets a stage use earlier ones, which have all run
            return StageOutput(outcome="not run")
        return StageOutput(
            outcome=record.outcome.value,
            result=record.result,
            answer_id=record.request_result,
            error=record.error,
        )

    def _result(self) -> PipelineResult:
        state = self._gate.state
        pipeline = self._input.pipeline
        continued = [
            r.stage
            for r in state.records
            if not r.ok
            and r.outcome is not Outcome.PENDING
            and pipeline.stage(str(r.stage)).on_failure is OnFailure.CONTINUE
        ]
        return PipelineResult(
            pipeline=pipeline.name,
            mode=self._input.mode,
            stages=records_with_progress(state),
            started_at=state.started_at or "",
            finished_at=workflow.now().isoformat(),
            continued_after=[str(s) for s in continued],
            duplicates_ignored=state.duplicates_ignored,
            rejected=state.rejected,
            runs=state.runs,
            digest=pipeline.digest,
        )


def _input_key(inp: PipelineRunInput, stage: str, path: str) -> str:
    """`wait.key: ${input.PATH}`: the key from the run's input; a missing one fails the run (no stage could wait)."""
    try:
        value = paths.lookup(inp.input, paths.split(path), "input")
    except PathError as exc:
        raise ApplicationError(
            f"stage {stage!r}: wait.key: {exc}", type=ERR_INVALID_INPUT, non_retryable=True
        ) from None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise ApplicationError(
            f"stage {stage!r}: wait.key: input.{path} is {paths.kind(value)}, not a non-empty string or integer",
            type=ERR_INVALID_INPUT,
            non_retryable=True,
        )
    return str(value)
