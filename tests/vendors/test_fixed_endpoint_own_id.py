"""A fixed-endpoint vendor that echoes the stage's own ID: the key is known before the request is made.

The stage puts its own ID (its idempotency key) into the Stripe-style payment intent's `metadata`; the fake
echoes `metadata` in every event, signed by the `stripe` SDK, to `/hooks/pay`, whose key path is
`data.object.metadata.stage_ref`. Nothing is read from the vendor's answer. Both ways in: the Python API
(`key=OWN_STAGE_ID`) and `pipelines/stripe_own_id_style.yaml` (`key: "${idempotency_key}"`), in every mode.

Real parts only: the session's dev server, an in-process worker (workflows, the mailbox and its delivery
activity, the gate's interceptor), the callback server and the fake on loopback HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from app.gate.hook_types import QUERY_MAILBOX_STATUS, MailboxStatus, mailbox_id
from app.gate.types import AdvancedBy, Mode, Outcome, StageRecord
from app.runtime.config import Settings
from tests.vendors.common import Scenario
from tests.vendors.stripe_rig import StripeRig as Rig
from tests.vendors.stripe_rig import checkout_rig, pay, stripe_source

RUN_TIMEOUT = 60.0
PIPELINE_FILE = Path(__file__).resolve().parents[2] / "pipelines" / "stripe_own_id_style.yaml"
WAYS = ("python", "pipeline")
SECRET = "whsec_own_id_test_secret"
# Where the fake echoes the request's metadata: the stage's own ID is the key.
HOOK_ENV = {"STAGEGATE_HOOK_SOURCES": "pay:stripe", **stripe_source(SECRET, "data.object.metadata.stage_ref")}
ADVANCED_BY = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.TOKEN: AdvancedBy.ACTIVITY, Mode.UPDATE: AdvancedBy.UPDATE}


@pytest.fixture
async def rig(client: Client, settings: Settings) -> AsyncIterator[Rig]:
    async with checkout_rig(client, settings, hook_env=HOOK_ENV, secret=SECRET) as ready:
        yield ready


async def _pay(rig: Rig, scenario: Scenario, mode: Mode, way: str) -> tuple[StageRecord, str]:
    """Run one payment to its end; the stage's record and its own ID (the key it waited on)."""
    payment = await pay(rig, scenario, mode, way, pipeline_file=PIPELINE_FILE, own_id=True, timeout=RUN_TIMEOUT)
    return payment.record, payment.own_id


async def _answers(rig: Rig, count: int) -> list[tuple[str, int]]:
    async with asyncio.timeout(10):
        while len(rig.stripe.deliveries.answers) < count:
            await asyncio.sleep(0.05)
    return list(rig.stripe.deliveries.answers)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_the_vendor_echoes_the_stages_own_id_and_the_stage_advances(rig: Rig, mode: Mode, way: str) -> None:
    record, own_id = await _pay(rig, Scenario.SUCCEED, mode, way)
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.advanced_by is ADVANCED_BY[mode]
    # The key the stage waited on is its own ID, in every mode (known before the request, so token mode keeps it).
    assert (record.hook_source, record.hook_key) == ("pay", own_id)
    assert record.result is not None
    assert record.result["status"] == "succeeded"
    assert record.result["metadata"]["stage_ref"] == own_id  # what the request sent, echoed by the vendor
    answers = await _answers(rig, 2)  # the progress event, then the final one
    assert [status for _, status in answers] == ([200, 200] if mode is Mode.UPDATE else [202, 202])


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", list(Mode))
async def test_an_event_before_the_create_answer_still_reaches_its_stage(rig: Rig, mode: Mode, way: str) -> None:
    record, own_id = await _pay(rig, Scenario.EARLY, mode, way)
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.hook_key == own_id
    assert record.result is not None
    assert record.result["status"] == "succeeded"


@pytest.mark.parametrize("mode", list(Mode))
async def test_the_same_event_twice_advances_once(rig: Rig, mode: Mode) -> None:
    record, own_id = await _pay(rig, Scenario.TWICE, mode, "python")
    assert record.outcome is Outcome.COMPLETED, record.error
    answers = await _answers(rig, 3)
    assert all(status in (200, 202) for _, status in answers)
    handle = rig.client.get_workflow_handle(mailbox_id("pay", own_id))
    status: MailboxStatus = await handle.query(QUERY_MAILBOX_STATUS, result_type=MailboxStatus)
    # The progress event and the final one reached the stage; the repeat was answered by the mailbox alone.
    assert [entry.outcome for entry in status.log] == ["delivered", "delivered"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_failed_payment_fails_the_stage_with_the_vendors_error(rig: Rig, way: str) -> None:
    record, _ = await _pay(rig, Scenario.FAIL, Mode.SIGNAL, way)
    assert record.outcome is Outcome.FAILED
    assert record.error == "card declined"
