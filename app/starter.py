"""Start a staged run: the one way the CLI, the demo, benchmarks and tests start workflows."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle

from app import search_attributes
from app.payloads import WORKFLOW_NAME, RunResult, StagedRunInput


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
    )
