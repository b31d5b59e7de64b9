"""A loopback rig for the vendor tests: the callback server, the three fake vendors, and one in-process worker.

Real parts only: the session's Temporal dev server; the callback server and the fakes on loopback HTTP
(uvicorn, on the test's loop); a worker registered like `app.worker` (the pipeline workflow and its
activities) plus a user's own workflow that uses the gate from the Python API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from app.callbacks.server import create_app
from app.gate.stage_activity import StageGateInterceptor
from app.gate.types import Mode, StageRecord
from app.pipeline.activities import PipelineActivities
from app.pipeline.egress import EgressPolicy, egress_client
from app.pipeline.fetch import FetchActivity
from app.pipeline.file import load_pipeline
from app.pipeline.types import QUERY_PIPELINE_STATUS, PipelineRunInput, PipelineStatus
from app.pipeline.workflow import PipelineWorkflow
from app.runtime.config import Settings
from app.starter import start_pipeline_run
from app.worker import callback_signer
from tests.asgi import serving
from tests.stack import ROOT
from tests.vendors import assembly_like, replicate_like, twilio_like
from tests.vendors.common import Deliveries, Scenario
from tests.vendors.serve import create_app as create_vendors
from tests.vendors.user_activities import VendorActivities
from tests.vendors.user_workflow import VendorRunInput, VendorWorkflow

RUN_TIMEOUT = 60.0
SHORT_TIMEOUT = 3.0  # for scenarios that end by timing out


class Style(StrEnum):
    """The three vendor styles (and the user workflow's names for them)."""

    REPLICATE = "replicate"
    ASSEMBLY = "assembly"
    TWILIO = "twilio"


class Way(StrEnum):
    """How the stage is defined."""

    PYTHON = "python"  # a user's own workflow, StageGate.call_and_wait(callback=...)
    PIPELINE = "pipeline"  # pipelines/<style>_style.yaml


PIPELINE_FILES = {
    Style.REPLICATE: ROOT / "pipelines" / "replicate_style.yaml",
    Style.ASSEMBLY: ROOT / "pipelines" / "assemblyai_style.yaml",
    Style.TWILIO: ROOT / "pipelines" / "twilio_style.yaml",
}


@dataclass(frozen=True)
class VendorRig:
    """The running pieces one test uses."""

    client: Client
    task_queue: str
    vendor_url: str
    callback_url: str
    deliveries: Deliveries
    http: httpx.AsyncClient
    fakes: tuple[replicate_like.Replicate, assembly_like.Assembly, twilio_like.Twilio]

    async def run(
        self, style: Style, scenario: Scenario, mode: Mode, way: Way, *, broken_fetch: bool = False
    ) -> StageRecord:
        """Run one stage against the vendor to its end; its record (after the vendor's last delivery)."""
        timeout = SHORT_TIMEOUT if scenario in (Scenario.NEVER, Scenario.OVERSIZED) else 30.0
        workflow_id = f"vendor-{style.value}-{scenario.value}-{mode.value}-{way.value}-{uuid.uuid4().hex[:6]}"
        if way is Way.PYTHON:
            handle = await self.client.start_workflow(
                VendorWorkflow.run,
                VendorRunInput(style.value, scenario.value, self.vendor_url, mode, timeout, broken_fetch),
                id=workflow_id,
                task_queue=self.task_queue,
            )
            record = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
        else:
            pipeline = load_pipeline(PIPELINE_FILES[style])
            pipeline = replace(pipeline, stages=[replace(s, timeout_seconds=timeout) for s in pipeline.stages])
            inp = {**(pipeline.input_example or {}), "scenario": scenario.value}
            run = await start_pipeline_run(
                self.client, self.task_queue, PipelineRunInput(pipeline, inp, mode), workflow_id=workflow_id
            )
            try:
                await asyncio.wait_for(run.result(), RUN_TIMEOUT)
            except WorkflowFailureError:
                pass  # a stage that did not complete fails the run; its record says how
            status = await run.query(QUERY_PIPELINE_STATUS, result_type=PipelineStatus)
            record = status.stages[0]
        await self.settled()
        return record

    async def settled(self) -> None:
        """Wait (bounded) until the fakes have made every delivery they meant to."""
        async with asyncio.timeout(30):
            for fake in self.fakes:
                while fake.background.tasks:
                    await asyncio.gather(*fake.background.tasks, return_exceptions=True)


@asynccontextmanager
async def vendor_rig(client: Client, settings: Settings, **worker_settings_changes: Any) -> AsyncIterator[VendorRig]:
    """Callback server, the fake vendors and a worker for the pipeline workflow and the user's workflow.

    `worker_settings_changes` replace worker settings (e.g. `egress_hosts=(...)`).
    """
    deliveries = Deliveries()
    async with (
        serving(create_app(settings, client=client)) as callback_url,
        httpx.AsyncClient(timeout=10) as http,
        AsyncExitStack() as stack,
    ):
        vendors = create_vendors(deliveries)
        fakes = vendors.state.fakes
        async with serving(vendors) as vendor_url:
            # The vendor is this worker's service: the egress policy's default allows it and binds the env to it.
            worker_settings = replace(
                settings,
                callback_base_url=callback_url,
                service_url=vendor_url,
                pipeline_env={"PIPELINE_VENDOR_URL": vendor_url},
            )
            worker_settings = replace(worker_settings, **worker_settings_changes)
            # As in `app.worker`: the pipeline requests and the fetch go through the egress policy's client.
            policy = EgressPolicy.from_settings(worker_settings)
            egress = await stack.enter_async_context(egress_client(policy))
            pipeline = PipelineActivities(worker_settings, egress, policy)
            fetch = FetchActivity(worker_settings, egress, policy)
            user = VendorActivities(http)
            worker = Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[PipelineWorkflow, VendorWorkflow],
                activities=[
                    pipeline.http_request,
                    pipeline.check_status,
                    fetch.fetch_result,
                    user.start_prediction,
                    user.start_transcript,
                    user.send_message,
                ],
                interceptors=[StageGateInterceptor(callback_signer(worker_settings))],
                max_cached_workflows=0,  # every workflow task replays the history: determinism is checked too
            )
            async with worker:
                yield VendorRig(client, settings.task_queue, vendor_url, callback_url, deliveries, http, fakes)
