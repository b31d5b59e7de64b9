"""A fixed-endpoint vendor end to end: the Stripe-style fake sends SDK-signed events to `/hooks/pay`, and the
stage waiting on the payment intent's ID gets each one once, through its key's mailbox workflow.

Real parts only: the session's dev server, an in-process worker (the user's workflow, the mailbox workflow and
its delivery activity, the gate's interceptor), the callback server and the fake on loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from stripe import WebhookSignature
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from app import HookMailboxWorkflow, deliver_hook_event
from app.callbacks.server import create_app
from app.gate.hook_types import QUERY_MAILBOX_STATUS, MailboxStatus, mailbox_id
from app.gate.types import QUERY_GATE_STATUS, AdvancedBy, GateStatus, Mode, Outcome, StageRecord, WaitingFor
from app.runtime.config import Settings, hook_sources_from
from tests.asgi import serving
from tests.vendors.checkout import CheckoutWorkflow
from tests.vendors.checkout_activities import Checkout
from tests.vendors.common import Scenario
from tests.vendors.stripe_rig import StripeRig as Rig
from tests.vendors.stripe_rig import checkout_rig, pay, stripe_source

RUN_TIMEOUT = 60.0
PIPELINE_FILE = Path(__file__).resolve().parents[2] / "pipelines" / "stripe_style.yaml"
WAYS = ("python", "pipeline")
SECRET = "whsec_fixed_endpoint_test_secret"
HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "pay:stripe,brief:stripe",
    **stripe_source(SECRET, "data.object.id"),
    # The same vendor account under a second name whose events are kept only briefly (the TTL test).
    **stripe_source(SECRET, "data.object.id", name="brief"),
    "STAGEGATE_HOOK_BRIEF_TTL": "1",
}
ADVANCED_BY = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.TOKEN: AdvancedBy.ACTIVITY, Mode.UPDATE: AdvancedBy.UPDATE}


@pytest.fixture
async def rig(client: Client, settings: Settings) -> AsyncIterator[Rig]:
    async with checkout_rig(client, settings, hook_env=HOOK_ENV, secret=SECRET) as ready:
        yield ready


async def _pay(rig: Rig, scenario: Scenario, mode: Mode = Mode.SIGNAL, way: str = "python") -> StageRecord:
    payment = await pay(rig, scenario, mode, way, pipeline_file=PIPELINE_FILE, timeout=RUN_TIMEOUT)
    return payment.record


async def _answers(rig: Rig, count: int) -> list[dict[str, object]]:
    """The callback server's answers to the fake's deliveries, once `count` of them are in (the fake records
    each answer as it gets it, which may be a moment after the run ended)."""
    async with asyncio.timeout(10):
        while len(rig.stripe.deliveries.answers) < count:
            await asyncio.sleep(0.05)
    return [{"event": label, "status": status} for label, status in rig.stripe.deliveries.answers]


async def _mailbox_ends(client: Client, source: str, key: str) -> MailboxStatus:
    handle: WorkflowHandle[object, MailboxStatus] = client.get_workflow_handle(
        mailbox_id(source, key), result_type=MailboxStatus
    )
    return await asyncio.wait_for(handle.result(), RUN_TIMEOUT)


async def _mailbox_status(client: Client, source: str, key: str) -> MailboxStatus:
    handle = client.get_workflow_handle(mailbox_id(source, key))
    status: MailboxStatus = await handle.query(QUERY_MAILBOX_STATUS, result_type=MailboxStatus)
    return status


def _signed(event: Mapping[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    header = WebhookSignature.generate_signature_header(body.decode(), SECRET, timestamp=int(time.time()))
    return body, {"stripe-signature": header, "content-type": "application/json"}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_succeed_progress_then_the_final_event(rig: Rig, mode: Mode, way: str) -> None:
    record = await _pay(rig, Scenario.SUCCEED, mode, way)
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.advanced_by is ADVANCED_BY[mode]
    assert record.hook_source == "pay"
    assert record.result is not None
    assert record.result["status"] == "succeeded"
    if mode is not Mode.TOKEN:  # token mode: the activity stays open, so the key read from its answer is not kept
        assert record.hook_key == record.result["id"]
    answers = await _answers(rig, 2)
    # Update mode: each answer carries the stage's verdict (progress, then accepted); else 202 "delivering".
    assert [a["status"] for a in answers] == ([200, 200] if mode is Mode.UPDATE else [202, 202])


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_an_event_before_the_create_answer_waits_for_its_stage(rig: Rig, mode: Mode, way: str) -> None:
    record = await _pay(rig, Scenario.EARLY, mode, way)
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.advanced_by is ADVANCED_BY[mode]
    assert record.result is not None
    assert record.result["status"] == "succeeded"  # the event's intent, not the earlier answer's
    assert [a["status"] for a in await _answers(rig, 1)] == [202]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_the_same_event_twice_advances_once(rig: Rig, mode: Mode, way: str) -> None:
    record = await _pay(rig, Scenario.TWICE, mode, way)
    assert record.outcome is Outcome.COMPLETED, record.error
    answers = await _answers(rig, 3)
    final = [a for a in answers if str(a["event"]).startswith("payment_intent.succeeded")]
    assert len(final) == 2
    assert all(a["status"] in (200, 202) for a in answers)
    assert record.result is not None
    status = await _mailbox_status(rig.client, "pay", str(record.result["id"]))
    # The progress event and the final one reached the stage; the repeat was answered by the mailbox alone.
    assert [entry.outcome for entry in status.log] == ["delivered", "delivered"]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_out_of_order_the_late_progress_changes_nothing(rig: Rig, mode: Mode, way: str) -> None:
    record = await _pay(rig, Scenario.OUT_OF_ORDER, mode, way)
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.result is not None
    assert record.result["status"] == "succeeded"
    assert all(a["status"] in (200, 202) for a in await _answers(rig, 2))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_a_failed_payment_fails_the_stage_with_the_vendors_error(rig: Rig, mode: Mode, way: str) -> None:
    record = await _pay(rig, Scenario.FAIL, mode, way)
    assert record.outcome is Outcome.FAILED
    assert record.error == "card declined"


async def test_an_event_nobody_waits_on_is_answered_2xx_then_dropped_after_its_ttl(rig: Rig) -> None:
    key = f"pi_nobody_{uuid.uuid4().hex[:8]}"
    event = {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "payment_intent.succeeded", "data": {"object": {"id": key}}}
    body, headers = _signed(event)
    async with httpx.AsyncClient(base_url=rig.callback_url, timeout=10) as http:
        first = await http.post("/hooks/brief", content=body, headers=headers)
        again = await http.post("/hooks/brief", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["outcome"] == "kept"
    assert (again.status_code, again.json()["outcome"]) == (202, "duplicate")
    ended = await _mailbox_ends(rig.client, "brief", key)  # the mailbox does not stay: it ends after the TTL
    assert (ended.pending_events, ended.dropped, ended.waiter) == ([], 1, None)


async def test_with_no_worker_the_event_goes_by_signal_and_waits_for_one(client: Client, settings: Settings) -> None:
    # A callback server whose task queue no worker polls yet: the update cannot be answered, Temporal still
    # takes the event (signal-with-start) and the vendor gets its 2xx instead of a 503.
    settings = replace(settings, hook_sources=hook_sources_from(HOOK_ENV))
    key = f"pi_noworker_{uuid.uuid4().hex[:8]}"
    event = {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "payment_intent.succeeded", "data": {"object": {"id": key}}}
    body, headers = _signed(event)
    async with (
        serving(create_app(settings, client=client)) as callback_url,
        httpx.AsyncClient(base_url=callback_url, timeout=10) as http,
    ):
        taken = await http.post("/hooks/pay", content=body, headers=headers)
    assert taken.status_code == 202, taken.text
    assert taken.json()["outcome"] == "taken"
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[HookMailboxWorkflow],
        activities=[deliver_hook_event],
        max_cached_workflows=0,
    )
    async with worker:  # a worker comes: the event is there, kept for a stage to come
        async with asyncio.timeout(RUN_TIMEOUT):
            while True:
                status = await _mailbox_status(client, "pay", key)
                if status.pending_events:
                    break
                await asyncio.sleep(0.1)
        assert status.pending_events == [event["id"]]
        await client.get_workflow_handle(mailbox_id("pay", key)).terminate("test over")


@pytest.mark.parametrize("mode", list(Mode))
async def test_operators_see_the_source_and_key_a_stage_waits_on(rig: Rig, mode: Mode) -> None:
    handle = await rig.client.start_workflow(
        CheckoutWorkflow.run,
        Checkout(vendor_url=rig.vendor_url, scenario=Scenario.NEVER.value, mode=mode),
        id=f"checkout-waiting-{uuid.uuid4().hex[:8]}",
        task_queue=rig.task_queue,
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            while True:
                status = await handle.query(QUERY_GATE_STATUS, result_type=GateStatus)
                if status.waiting_for in (WaitingFor.CALLBACK, WaitingFor.ACTIVITY_COMPLETION) and status.waiting_on:
                    break
                await asyncio.sleep(0.1)
        # What `cli list` shows (and `--waiting-on pay` filters by); token mode keeps the activity open, so
        # the key read from its answer is not known to the workflow.
        if mode is Mode.TOKEN:
            assert status.waiting_on == "pay key (from the answer)"
        else:
            assert status.waiting_on is not None
            assert status.waiting_on.startswith("pay key pi_")
            record = status.stages[0]
            assert (record.hook_source, record.hook_key) == ("pay", status.waiting_on.removeprefix("pay key "))
    finally:
        await handle.terminate("test over")
