"""The second fixed-endpoint vendor, form-encoded: a Twilio-style account POSTs every message's status callbacks
to `/hooks/sms`, signed by the `twilio` SDK's `RequestValidator` over the URL configured at Twilio (a public URL
the callback server sits behind, not the loopback one the request reaches), and the stage waiting on the
message SID gets each status once, through its key's mailbox workflow.

Every scenario x mode x way (Python API, pipelines/twilio_fixed_style.yaml) ends as the scenario says.
`just test` runs the succeed case in every mode and way plus an early one; the rest is marked `slow`
(`just test-slow tests/vendors`). Real parts only: the session's dev server, an in-process worker, the callback
server and the fake on loopback HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from app import HookMailboxWorkflow, StageGateInterceptor, deliver_hook_event
from app.callbacks.server import create_app
from app.gate.hook_types import QUERY_MAILBOX_STATUS, MailboxStatus, mailbox_id
from app.gate.types import AdvancedBy, Mode, Outcome, StageRecord
from app.pipeline.activities import PipelineActivities
from app.pipeline.file import load_pipeline
from app.pipeline.types import QUERY_PIPELINE_STATUS, PipelineRunInput, PipelineStatus
from app.pipeline.workflow import PipelineWorkflow
from app.runtime.config import Settings, hook_sources_from
from app.starter import start_pipeline_run
from app.worker import callback_signer
from tests.asgi import serving
from tests.vendors.common import Deliveries, Scenario
from tests.vendors.sms import SmsWorkflow
from tests.vendors.sms_activities import Sms, send_sms
from tests.vendors.twilio_account import TwilioAccount
from tests.vendors.twilio_account import create_app as create_vendor

RUN_TIMEOUT = 60.0
SHORT_TIMEOUT = 3.0  # for the scenarios that end by timing out
PIPELINE_FILE = Path(__file__).resolve().parents[2] / "pipelines" / "twilio_fixed_style.yaml"
AUTH_TOKEN = "twilio_auth_token_fixed_endpoint_test"
# The URL as configured in the Twilio console: what Twilio signs, whatever URL the request reaches here.
PUBLIC_URL = "https://hooks.example.test/hooks/sms"
HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "sms:twilio",
    "STAGEGATE_HOOK_SMS_SECRET": AUTH_TOKEN,
    "STAGEGATE_HOOK_SMS_KEY_PATH": "MessageSid",
    "STAGEGATE_HOOK_SMS_OPT_URL": PUBLIC_URL,
}
ADVANCED_BY = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.TOKEN: AdvancedBy.ACTIVITY, Mode.UPDATE: AdvancedBy.UPDATE}
OUTCOME = {
    Scenario.SUCCEED: Outcome.COMPLETED,
    Scenario.FAIL: Outcome.FAILED,
    Scenario.CANCEL: Outcome.CANCELLED,
    Scenario.NEVER: Outcome.TIMED_OUT,
    Scenario.TWICE: Outcome.COMPLETED,
    Scenario.EARLY: Outcome.COMPLETED,
    Scenario.OUT_OF_ORDER: Outcome.COMPLETED,
    Scenario.OVERSIZED: Outcome.TIMED_OUT,
}
WAYS = ("python", "pipeline")

FAST = [
    *(
        pytest.param(Scenario.SUCCEED, mode, way, id=f"succeed-{mode}-{way}")
        for mode, way in itertools.product(Mode, WAYS)
    ),
    pytest.param(Scenario.EARLY, Mode.UPDATE, "python", id="early-update-python"),
]
MATRIX = [
    pytest.param(scenario, mode, way, id=f"{scenario}-{mode}-{way}", marks=pytest.mark.slow)
    for scenario, mode, way in itertools.product(Scenario, Mode, WAYS)
    if scenario is not Scenario.SUCCEED and (scenario, mode, way) != (Scenario.EARLY, Mode.UPDATE, "python")
]


@dataclass(frozen=True)
class Rig:
    client: Client
    task_queue: str
    vendor_url: str
    twilio: TwilioAccount


@pytest.fixture
async def rig(client: Client, settings: Settings) -> AsyncIterator[Rig]:
    settings = replace(settings, hook_sources=hook_sources_from(HOOK_ENV))
    async with serving(create_app(settings, client=client)) as callback_url:
        twilio = TwilioAccount(Deliveries(), AUTH_TOKEN, endpoint=f"{callback_url}/hooks/sms", public_url=PUBLIC_URL)
        async with serving(create_vendor(twilio)) as vendor_url:
            worker_settings = replace(
                settings,
                callback_base_url=callback_url,
                service_url=vendor_url,
                pipeline_env={"PIPELINE_VENDOR_URL": vendor_url},
            )
            async with httpx.AsyncClient(timeout=10) as http:
                pipeline = PipelineActivities(worker_settings, http)
                worker = Worker(
                    client,
                    task_queue=settings.task_queue,
                    workflows=[SmsWorkflow, PipelineWorkflow, HookMailboxWorkflow],
                    activities=[send_sms, pipeline.http_request, deliver_hook_event],
                    interceptors=[
                        StageGateInterceptor(callback_signer(worker_settings), mailbox_task_queue=settings.task_queue)
                    ],
                    max_cached_workflows=0,  # every workflow task replays: determinism is checked too
                )
                async with worker:
                    yield Rig(client, settings.task_queue, vendor_url, twilio)


async def _send(rig: Rig, scenario: Scenario, mode: Mode, way: str) -> StageRecord:
    timeout = SHORT_TIMEOUT if scenario in (Scenario.NEVER, Scenario.OVERSIZED) else 30.0
    workflow_id = f"sms-{scenario.value}-{mode.value}-{way}-{uuid.uuid4().hex[:6]}"
    if way == "pipeline":  # pipelines/twilio_fixed_style.yaml, as written (but the stage's time)
        pipeline = load_pipeline(PIPELINE_FILE)
        pipeline = replace(pipeline, stages=[replace(s, timeout_seconds=timeout) for s in pipeline.stages])
        inp = {**(pipeline.input_example or {}), "scenario": scenario.value}
        run = await start_pipeline_run(
            rig.client, rig.task_queue, PipelineRunInput(pipeline, inp, mode), workflow_id=workflow_id
        )
        try:
            await asyncio.wait_for(run.result(), RUN_TIMEOUT)
        except WorkflowFailureError:
            pass  # a stage that did not complete fails the run; its record says how
        status: PipelineStatus = await run.query(QUERY_PIPELINE_STATUS, result_type=PipelineStatus)
        record = status.stages[0]
    else:
        handle = await rig.client.start_workflow(
            SmsWorkflow.run,
            Sms(vendor_url=rig.vendor_url, scenario=scenario.value, mode=mode, timeout_seconds=timeout),
            id=workflow_id,
            task_queue=rig.task_queue,
        )
        record = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    async with asyncio.timeout(30):  # the fake's last deliveries (they may follow the run's end)
        while rig.twilio.background.tasks:
            await asyncio.gather(*rig.twilio.background.tasks, return_exceptions=True)
    return record


async def _mailbox_status(client: Client, key: str) -> MailboxStatus:
    status: MailboxStatus = await client.get_workflow_handle(mailbox_id("sms", key)).query(
        QUERY_MAILBOX_STATUS, result_type=MailboxStatus
    )
    return status


@pytest.mark.parametrize(("scenario", "mode", "way"), FAST + MATRIX)
async def test_twilio_style_fixed_endpoint(rig: Rig, scenario: Scenario, mode: Mode, way: str) -> None:
    record = await _send(rig, scenario, mode, way)
    answers = rig.twilio.deliveries.answers
    assert answers, "the vendor made no delivery"
    assert all(0 < status < 500 for _, status in answers), answers
    assert record.outcome is OUTCOME[scenario], (record, answers)
    assert record.hook_source == "sms"
    (sid,) = rig.twilio.messages
    if mode is not Mode.TOKEN:  # token mode: the activity stays open, so the key read from its answer is not kept
        assert record.hook_key == sid
    if OUTCOME[scenario] is Outcome.COMPLETED:
        assert record.advanced_by is ADVANCED_BY[mode]
        assert record.result is not None
        assert record.result["MessageStatus"] == "delivered", record.result  # the callback's fields
        assert record.result["MessageSid"] == sid
    statuses = rig.twilio.deliveries.statuses
    if scenario is Scenario.SUCCEED:
        # Update mode: each answer carries the stage's verdict (progress, then accepted); else 202 "delivering".
        assert [s for _, s in answers] == ([200, 200] if mode is Mode.UPDATE else [202, 202])
        if mode is not Mode.TOKEN:  # token mode: progress is the activity's heartbeat
            assert record.progress >= 1, record
    elif scenario is Scenario.FAIL:
        assert record.error is not None
        assert "30003" in record.error, record
    elif scenario is Scenario.CANCEL:
        assert statuses("canceled") in ([200], [202])
    elif scenario is Scenario.NEVER:
        assert statuses("sent") in ([200], [202])
    elif scenario is Scenario.TWICE:
        assert len(statuses("delivered")) == 2, answers
        # "sent" and the first "delivered" reached the stage; the repeat (same bytes) the mailbox answered alone.
        assert [entry.outcome for entry in (await _mailbox_status(rig.client, sid)).log] == ["delivered"] * 2
    elif scenario is Scenario.EARLY:
        assert answers[0] == ("delivered", 202), answers  # kept: no stage waits on the SID yet
    elif scenario is Scenario.OUT_OF_ORDER:
        assert [label for label, _ in answers] == ["delivered", "sent"]
    elif scenario is Scenario.OVERSIZED:
        assert statuses("delivered") == [413], answers  # refused before it was read, never retried
