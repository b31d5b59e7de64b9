"""Start a staged or pipeline run: the one way the CLI, the demo, benchmarks and tests start workflows."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from temporalio.client import Client, WorkflowHandle

from app.demo.payloads import WORKFLOW_NAME, RunResult, StagedRunInput
from app.gate import operator_view, search_attributes

if TYPE_CHECKING:
    from app.pipeline.types import PipelineResult, PipelineRunInput


def new_workflow_id(mode: str) -> str:
    """A readable, unique workflow ID."""
    return f"stagegate-{mode}-{uuid.uuid4().hex[:12]}"


async def start_staged_run(
    client: Client, task_queue: str, inp: StagedRunInput, *, workflow_id: str | None = None
) -> WorkflowHandle[object, RunResult]:
    """Start the workflow with its search attributes; the ID defaults to a fresh readable one."""
    return await client.start_workflow(
        WORKFLOW_NAME,
        inp,
        id=workflow_id or new_workflow_id(inp.mode.value),
        task_queue=task_queue,
        result_type=RunResult,
        search_attributes=search_attributes.at_start(inp.mode.value),
        static_summary=operator_view.run_summary("demo run", inp.mode.value, inp.stages),
        static_details=demo_details(inp),
    )


async def start_pipeline_run(
    client: Client, task_queue: str, inp: PipelineRunInput, *, workflow_id: str | None = None
) -> WorkflowHandle[object, PipelineResult]:
    """Start a pipeline run: the validated definition travels in the input (the file is never read again)."""
    # Imported here: a demo start (`cli start --no-wait`, run many times by scripts) never pays for the pipeline
    # types' dataclasses.
    from app.pipeline import operator
    from app.pipeline.types import PIPELINE_WORKFLOW_NAME, PipelineResult

    return await client.start_workflow(
        PIPELINE_WORKFLOW_NAME,
        inp,
        id=workflow_id or new_workflow_id(f"{inp.pipeline.name}-{inp.mode.value}"),
        task_queue=task_queue,
        result_type=PipelineResult,
        search_attributes=search_attributes.at_start(inp.mode.value),
        static_summary=operator.start_summary(inp.pipeline, inp.mode),
        static_details=operator.start_details(inp.pipeline, inp.mode),
    )


def demo_details(inp: StagedRunInput) -> str:
    """Static details of a demo run: its knobs, then each stage's mode and timeout."""
    actions = ", ".join(a.value for a in inp.actions)
    description = (
        f"Demo against the service mock: actions {actions}; time to request {inp.time_to_request:g}s, "
        f"time to callback {inp.time_to_callback:g}s."
    )
    stages = [
        operator_view.StageLine(
            name=str(n),
            mode=inp.mode_for(n).value,
            timeout_seconds=inp.stage_timeout_seconds,
            service="POST service mock",
        )
        for n in range(1, max(inp.stages, 0) + 1)
    ]
    return operator_view.run_details(description, stages)
