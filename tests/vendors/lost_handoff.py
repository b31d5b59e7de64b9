"""A user's workflow with one token-mode stage that waits on the Stripe-style fake's events, with a short hand-off
check (`tests/vendors/test_hook_handoff.py`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app import Mode, StageGate, StageRecord
    from tests.vendors.checkout_activities import PAYMENT_EVENTS
    from tests.vendors.lost_handoff_activities import LostHandoff, create_payment_losing_the_first


@workflow.defn
class LostHandoffWorkflow:
    """Pay in token mode, the key read from the create answer (`key_path`): the workflow never learns it."""

    @workflow.init
    def __init__(self, inp: LostHandoff) -> None:
        check = inp.handoff_check_seconds
        self.gate = StageGate(mode=Mode.TOKEN, handoff_check=timedelta(seconds=check) if check else None)

    @workflow.run
    async def run(self, inp: LostHandoff) -> StageRecord:
        """One stage; its record is the run's result."""
        record = await self.gate.call_and_wait(
            create_payment_losing_the_first,
            inp,
            stage="pay",
            timeout=timedelta(seconds=inp.checkout.timeout_seconds),
            source="pay",
            key_path="id",
            callback=PAYMENT_EVENTS,
        )
        await self.gate.finish()
        return record
