"""Helpers for pipeline tests: the example files, and a loopback rig (callback server, service mock, worker).

Real parts only: the session's Temporal dev server, an in-process worker registered like `app.worker` (the
pipeline workflow, its generic activities, the fetch activity and the gate's interceptor), the callback server
and the service mock both on loopback HTTP (uvicorn, on the test's loop).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from app.callbacks.server import create_app
from app.gate.stage_activity import StageGateInterceptor
from app.gate.types import Mode
from app.pipeline.activities import PipelineActivities
from app.pipeline.egress import EgressPolicy, egress_client
from app.pipeline.fetch import FetchActivity
from app.pipeline.file import parse_pipeline
from app.pipeline.types import Pipeline, PipelineResult, PipelineRunInput
from app.pipeline.workflow import PipelineWorkflow
from app.runtime.config import Settings
from app.starter import start_pipeline_run
from app.worker import callback_signer
from service_mock.config import Settings as MockSettings
from service_mock.server import create_app as create_mock
from tests.asgi import serving
from tests.stack import ROOT

EXAMPLES = ROOT / "pipelines"
RUN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Rig:
    """The running pieces one test uses."""

    client: Client
    task_queue: str
    service_url: str
    http: httpx.AsyncClient

    async def start(
        self, pipeline: Pipeline, inp: dict[str, Any] | None = None, mode: Mode = Mode.SIGNAL
    ) -> WorkflowHandle[object, PipelineResult]:
        """Start a run with a fresh workflow ID (the input defaults to the file's example)."""
        value = inp if inp is not None else dict(pipeline.input_example or {})
        return await start_pipeline_run(
            self.client,
            self.task_queue,
            PipelineRunInput(pipeline=pipeline, input=value, mode=mode),
            workflow_id=f"pipeline-test-{pipeline.name}-{mode.value}-{uuid.uuid4().hex[:8]}",
        )

    async def job(self, job_id: str) -> dict[str, Any]:
        """The service mock's record of a job (what it was asked, what it reported)."""
        response = await self.http.get(f"{self.service_url}/jobs/{job_id}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@asynccontextmanager
async def rig(
    client: Client,
    settings: Settings,
    *,
    worker_env: dict[str, str] | None = None,
    publish_token: str | None = None,
    **worker_settings_changes: Any,
) -> AsyncIterator[Rig]:
    """Callback server, service mock (optionally wanting a publish token) and a pipeline worker, all on loopback.

    The worker's pipeline requests go through the egress policy, as in `app.worker`; by default it allows the
    service mock only. `worker_settings_changes` replace worker settings (e.g. `egress_hosts=(...)`).
    """
    mock_settings = MockSettings(
        heartbeat_interval=0.2, callback_backoff_initial=0.1, callback_backoff_max=1.0, publish_token=publish_token
    )
    async with (
        serving(create_app(settings, client=client)) as callback_url,
        serving(create_mock(mock_settings)) as service_url,
        httpx.AsyncClient() as http,
        AsyncExitStack() as stack,
    ):
        # The worker's exposed environment: where the service is, plus whatever the test adds (or leaves out).
        env = {"SERVICE_URL": service_url, **(worker_env or {})}
        worker_settings = replace(settings, callback_base_url=callback_url, service_url=service_url, pipeline_env=env)
        worker_settings = replace(worker_settings, **worker_settings_changes)
        policy = EgressPolicy.from_settings(worker_settings)
        egress = await stack.enter_async_context(egress_client(policy))
        activities = PipelineActivities(worker_settings, egress, policy)
        fetch = FetchActivity(worker_settings, egress, policy)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[PipelineWorkflow],
            activities=[activities.http_request, activities.check_status, fetch.fetch_result],
            interceptors=[StageGateInterceptor(callback_signer(worker_settings))],
            max_cached_workflows=0,  # every workflow task replays the history: determinism is checked too
        )
        async with worker:
            yield Rig(client=client, task_queue=settings.task_queue, service_url=service_url, http=http)


def readable_history(history_json: str) -> str:
    """A history's JSON plus every base64 value in it decoded (payloads are base64 there): what to search."""
    found: list[str] = [history_json]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            try:
                found.append(base64.b64decode(value, validate=True).decode("utf-8", errors="replace"))
            except ValueError:
                pass

    walk(json.loads(history_json))
    return "\n".join(found)


def pipeline_from(text: str, name: str = "test.yaml") -> Pipeline:
    """Parse a pipeline written in a test."""
    return parse_pipeline(text, source=name)


@dataclass(frozen=True)
class Ended:
    """How a run ended: its result, or its typed error (with the partial result from the error's details)."""

    result: PipelineResult | None
    error: ApplicationError | None = None


async def ended(handle: WorkflowHandle[object, PipelineResult]) -> Ended:
    """Wait (bounded) for the run to close."""
    try:
        return Ended(result=await asyncio.wait_for(handle.result(), RUN_TIMEOUT))
    except WorkflowFailureError as err:
        cause = err.cause
    if not isinstance(cause, ApplicationError):
        raise AssertionError(f"the run failed without an ApplicationError: {cause!r}")
    return Ended(result=None, error=cause)
