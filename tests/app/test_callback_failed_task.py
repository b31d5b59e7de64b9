"""An update-mode callback that reaches a run whose last workflow task failed or timed out gets 503 + Retry-After.

Temporal refuses updates while a run's workflow task is in that state ("Workflow Task in failed state",
FAILED_PRECONDITION) and retries the task itself: a worker killed mid-task, a task timeout. A 409 there made the
sender give up (found by the forged-callback reliability row: the stage then waited for its timeout). Real dev
server, a real worker whose workflow fails its task, the real callback server over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from app.callbacks.server import create_app
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import Settings
from tests.asgi import serving

# Temporal refuses updates once a run's workflow task has failed this many attempts in a row.
FAILED_ATTEMPTS = 3


@workflow.defn(name="BrokenTaskWorkflow", sandboxed=False)  # this test module imports httpx
class BrokenTaskWorkflow:
    """Every workflow task fails (as a task that times out again and again on a stalled or crash-looping worker
    does): Temporal keeps the run open and retries the task, and past a few attempts refuses updates."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code fails this task")


async def _task_attempt(handle: WorkflowHandle[Any, Any]) -> int:
    described = await handle.describe()
    return int(described.raw_description.pending_workflow_task.attempt)


def _update_path(settings: Settings, workflow_id: str) -> str:
    target = CallbackTarget(
        mode=Mode.UPDATE, workflow_id=workflow_id, stage=1, attempt=1, expires_at=int(time.time()) + 300
    )
    parts = urlsplit(build_callback_url("http://test", settings.signing_secrets[0], target))
    return f"{parts.path}?{parts.query}"


async def test_update_to_a_run_whose_task_failed_is_answered_503_with_retry_after(
    client: Client, settings: Settings, task_queue: str
) -> None:
    workflow_id = f"broken-task-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[BrokenTaskWorkflow]):
        handle = await client.start_workflow(BrokenTaskWorkflow.run, id=workflow_id, task_queue=task_queue)
        try:
            async with asyncio.timeout(60):
                while await _task_attempt(handle) < FAILED_ATTEMPTS:
                    await asyncio.sleep(0.2)
            async with (
                serving(create_app(settings, client=client)) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=30) as http,
            ):
                answer = await http.post(_update_path(settings, workflow_id), json={"status": "completed"})
        finally:
            await handle.terminate("test over")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == str(settings.callback_retry_after_seconds)
    assert answer.json()["error"] == "workflow_task_failing", answer.text
