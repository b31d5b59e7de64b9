"""The token-mode hand-off check of a stage that waits on a fixed endpoint (issue 20): a first request whose
hand-off was lost (the worker died after the vendor answered, before the stage registered with its key's mailbox)
is found by the check and made again, and the stage completes from the vendor's events long before its budget.

Real parts only: the session's dev server, an in-process worker (the user's workflow, the mailbox workflow, its
delivery activity and the hand-off check, the gate's interceptor), the callback server and the Stripe-style fake
on loopback HTTP. The key comes from the vendor's answer (`key_path`), so the workflow never knows it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowHandle

from app import check_hook_handoff
from app.gate.hook_types import ACTIVITY_HOOK_HANDOFF_CHECK, QUERY_MAILBOX_STATUS, MailboxStatus, mailbox_id
from app.gate.types import AdvancedBy, Mode, Outcome, StageRecord
from app.runtime.config import Settings
from tests.vendors.checkout_activities import Checkout
from tests.vendors.lost_handoff import LostHandoffWorkflow
from tests.vendors.lost_handoff_activities import REQUESTS, LostHandoff, create_payment_losing_the_first
from tests.vendors.stripe_rig import StripeRig as Rig
from tests.vendors.stripe_rig import stripe_rig, stripe_source

SECRET = "whsec_hook_handoff_test_secret"
HOOK_ENV = {"STAGEGATE_HOOK_SOURCES": "pay:stripe", **stripe_source(SECRET, "data.object.id")}
BUDGET = 30.0


@pytest.fixture
async def rig(client: Client, settings: Settings) -> AsyncIterator[Rig]:
    async with stripe_rig(
        client,
        settings,
        hook_env=HOOK_ENV,
        secret=SECRET,
        workflows=[LostHandoffWorkflow],
        activities=lambda _settings, _http: [create_payment_losing_the_first, check_hook_handoff],
    ) as ready:
        yield ready


async def _run(rig: Rig, inp: LostHandoff) -> tuple[WorkflowHandle[LostHandoffWorkflow, StageRecord], StageRecord]:
    handle = await rig.client.start_workflow(
        LostHandoffWorkflow.run,
        inp,
        id=f"lost-handoff-{uuid.uuid4().hex[:8]}",
        task_queue=rig.task_queue,
    )
    record = await asyncio.wait_for(handle.result(), BUDGET + 30)
    return handle, record


async def _activity_types(handle: WorkflowHandle[LostHandoffWorkflow, StageRecord]) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_a_lost_hand_off_is_found_and_requested_again(rig: Rig) -> None:
    """Without the check this stage waited out its whole budget (30 s here) and timed out."""
    started = time.monotonic()
    inp = LostHandoff(Checkout(vendor_url=rig.vendor_url, mode=Mode.TOKEN, timeout_seconds=BUDGET))
    handle, record = await _run(rig, inp)
    took = time.monotonic() - started
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.advanced_by is AdvancedBy.ACTIVITY
    assert record.requests_repeated == 1
    assert took < BUDGET / 2, f"took {took:.1f}s of a {BUDGET:g}s budget"
    first, second = REQUESTS.intents[handle.id]
    assert record.result is not None
    assert record.result["id"] == second  # the events of the repeated request completed the stage
    # The lost request's events were kept by its key's mailbox, where no stage ever registered.
    lost: MailboxStatus = await rig.client.get_workflow_handle(mailbox_id("pay", first)).query(
        QUERY_MAILBOX_STATUS, result_type=MailboxStatus
    )
    assert lost.waiter is None
    assert lost.pending_events
    assert (await _activity_types(handle)).count(ACTIVITY_HOOK_HANDOFF_CHECK) == 1


async def test_a_registered_stage_is_not_requested_again(rig: Rig) -> None:
    """The vendor's events come after the check: it finds the stage registered, and the stage simply waits."""
    rig.stripe.deliveries.delay = 2.0  # the check runs after 1 s
    inp = LostHandoff(Checkout(vendor_url=rig.vendor_url, mode=Mode.TOKEN, timeout_seconds=BUDGET), lose_first=False)
    handle, record = await _run(rig, inp)
    assert record.outcome is Outcome.COMPLETED, record.error
    assert record.requests_repeated == 0
    assert len(REQUESTS.intents[handle.id]) == 1
    assert (await _activity_types(handle)).count(ACTIVITY_HOOK_HANDOFF_CHECK) == 1


async def test_without_the_check_a_lost_hand_off_waits_out_the_budget(rig: Rig) -> None:
    """The bug the check fixes (issue 20), with a short budget: nobody ever completes the lost activity."""
    inp = LostHandoff(
        Checkout(vendor_url=rig.vendor_url, mode=Mode.TOKEN, timeout_seconds=4.0), handoff_check_seconds=None
    )
    _, record = await _run(rig, inp)
    assert record.outcome is Outcome.TIMED_OUT
    assert record.requests_repeated == 0
