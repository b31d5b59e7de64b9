"""The loopback rig of the Stripe-style fixed-endpoint tests: the callback server with the sources they name, the
Stripe-style fake sending its account's events to `/hooks/pay`, and one in-process worker that runs the test's
workflows beside the hook mailbox and its delivery activity.

Real parts only: the session's Temporal dev server; the callback server and the fake on loopback HTTP (uvicorn,
on the test's loop); the worker replays every workflow task (no cache), so determinism is checked too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from app import HookMailboxWorkflow, StageGateInterceptor, deliver_hook_event
from app.callbacks.server import create_app
from app.gate.types import Mode, StageRecord
from app.pipeline.activities import PipelineActivities
from app.pipeline.file import load_pipeline
from app.pipeline.types import QUERY_PIPELINE_STATUS, PipelineRunInput, PipelineStatus
from app.pipeline.workflow import PipelineWorkflow
from app.runtime.config import Settings, hook_sources_from
from app.starter import start_pipeline_run
from app.worker import callback_signer
from tests.asgi import serving
from tests.vendors.checkout import CheckoutWorkflow
from tests.vendors.checkout_activities import Checkout, create_payment
from tests.vendors.common import Deliveries, Scenario
from tests.vendors.stripe_like import Stripe
from tests.vendors.stripe_like import create_app as create_vendor


def stripe_source(secret: str, key_path: str, name: str = "pay") -> dict[str, str]:
    """The callback server's environment for one source verified the Stripe way, event IDs at `id`."""
    var = f"STAGEGATE_HOOK_{name.upper()}"
    return {f"{var}_SECRET": secret, f"{var}_KEY_PATH": key_path, f"{var}_EVENT_ID_PATH": "id"}


@dataclass(frozen=True)
class StripeRig:
    """What a test talks to: Temporal, the worker's task queue, the fake's URL, the callback server's URL."""

    client: Client
    task_queue: str
    vendor_url: str
    callback_url: str
    stripe: Stripe
    # The worker's settings (its callback base URL, the fake as its service and pipeline vendor URL).
    settings: Settings


@asynccontextmanager
async def stripe_rig(
    client: Client,
    settings: Settings,
    *,
    hook_env: Mapping[str, str],
    secret: str,
    workflows: Sequence[type],
    activities: Callable[[Settings, httpx.AsyncClient], Sequence[Callable[..., Any]]],
) -> AsyncIterator[StripeRig]:
    """Serve the callback server (sources from `hook_env`) and the fake, and run a worker with the test's
    `workflows` and the `activities(worker_settings, http)` gives, plus the mailbox and its delivery."""
    settings = replace(settings, hook_sources=hook_sources_from(hook_env))
    async with serving(create_app(settings, client=client)) as callback_url:
        stripe = Stripe(Deliveries(), secret, endpoint=f"{callback_url}/hooks/pay")
        async with serving(create_vendor(stripe)) as vendor_url, httpx.AsyncClient(timeout=10) as http:
            worker_settings = replace(
                settings,
                callback_base_url=callback_url,
                service_url=vendor_url,
                pipeline_env={"PIPELINE_VENDOR_URL": vendor_url},
            )
            worker = Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[*workflows, HookMailboxWorkflow],
                activities=[*activities(worker_settings, http), deliver_hook_event],
                interceptors=[
                    StageGateInterceptor(callback_signer(worker_settings), mailbox_task_queue=settings.task_queue)
                ],
                max_cached_workflows=0,
            )
            async with worker:
                yield StripeRig(client, settings.task_queue, vendor_url, callback_url, stripe, worker_settings)


@asynccontextmanager
async def checkout_rig(
    client: Client, settings: Settings, *, hook_env: Mapping[str, str], secret: str
) -> AsyncIterator[StripeRig]:
    """The rig for a payment stage both ways in: the user's `CheckoutWorkflow` and the pipeline workflow."""
    async with stripe_rig(
        client,
        settings,
        hook_env=hook_env,
        secret=secret,
        workflows=[CheckoutWorkflow, PipelineWorkflow],
        activities=lambda worker_settings, http: [
            create_payment,
            PipelineActivities(worker_settings, http).http_request,
        ],
    ) as rig:
        yield rig


@dataclass(frozen=True)
class Payment:
    """How one payment stage ended, and the stage's own ID (`<workflow ID>/<first run ID>/pay`)."""

    record: StageRecord
    own_id: str


async def pay(
    rig: StripeRig,
    scenario: Scenario,
    mode: Mode,
    way: str,
    *,
    pipeline_file: Path,
    own_id: bool = False,
    timeout: float = 60.0,
) -> Payment:
    """Run one payment to its end: via `pipeline_file` as written (`way="pipeline"`), else `CheckoutWorkflow`."""
    if way == "pipeline":
        pipeline = load_pipeline(pipeline_file)
        inp = {**(pipeline.input_example or {}), "scenario": scenario.value}
        run = await start_pipeline_run(
            rig.client,
            rig.task_queue,
            PipelineRunInput(pipeline, inp, mode),
            workflow_id=f"{pipeline.name}-{scenario.value}-{uuid.uuid4().hex[:8]}",
        )
        try:
            await asyncio.wait_for(run.result(), timeout)
        except WorkflowFailureError:
            pass  # a stage that did not complete fails the run; its record says how
        status: PipelineStatus = await run.query(QUERY_PIPELINE_STATUS, result_type=PipelineStatus)
        return Payment(status.stages[0], f"{run.id}/{run.first_execution_run_id}/pay")
    handle = await rig.client.start_workflow(
        CheckoutWorkflow.run,
        Checkout(vendor_url=rig.vendor_url, scenario=scenario.value, mode=mode, own_id=own_id),
        id=f"checkout-{scenario.value}-{uuid.uuid4().hex[:8]}",
        task_queue=rig.task_queue,
    )
    record: StageRecord = await asyncio.wait_for(handle.result(), timeout)
    return Payment(record, f"{handle.id}/{handle.first_execution_run_id}/pay")
