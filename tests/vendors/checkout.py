"""A user's own workflow against the Stripe-style fake: one stage that waits on a fixed endpoint.

The activity creates a payment intent (no callback URL: the vendor sends its events to the account's one
endpoint); the stage waits on source `pay` and the intent's ID, read from what the activity returned, or
(`Checkout.own_id`) on its own ID, which the request put in the intent's `metadata` and Stripe echoes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app import OWN_STAGE_ID, StageGate, StageRecord
    from tests.vendors.checkout_activities import PAYMENT_EVENTS, Checkout, create_payment


@workflow.defn
class CheckoutWorkflow:
    """Pay, waiting on the vendor's own events for the intent."""

    @workflow.init
    def __init__(self, checkout: Checkout) -> None:
        self.gate = StageGate(mode=checkout.mode)

    @workflow.run
    async def run(self, checkout: Checkout) -> StageRecord:
        """One stage; its record (outcome, result, hook key) is the run's result."""
        record = await self.gate.call_and_wait(
            create_payment,
            checkout,
            stage="pay",
            timeout=timedelta(seconds=checkout.timeout_seconds),
            source="pay",
            key=OWN_STAGE_ID if checkout.own_id else None,
            key_path=None if checkout.own_id else "id",
            callback=PAYMENT_EVENTS,
        )
        await self.gate.finish()
        return record
