"""The user's activity and values for the checkout workflow (`tests/vendors/checkout.py`): outside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity

from app import CallbackShape, Mode, current_stage

# How a Stripe event reads: its type is the outcome, the payment intent is the result.
PAYMENT_EVENTS = CallbackShape(
    outcome="type",
    completed=["payment_intent.succeeded"],
    failed=["payment_intent.payment_failed"],
    cancelled=["payment_intent.canceled"],
    progress=["payment_intent.processing"],
    ignore=["payment_intent.created"],
    result="data.object",
    error="data.object.last_payment_error.message",
)


@dataclass(frozen=True)
class Checkout:
    """One payment: how much, the fake's scenario, the stage's mode and time."""

    vendor_url: str
    amount: int = 1200
    scenario: str = "succeed"
    mode: Mode = Mode.SIGNAL
    timeout_seconds: float = 30.0
    metadata: dict[str, Any] = field(default_factory=dict)
    # Wait on the stage's own ID, sent as `metadata.stage_ref` (Stripe echoes metadata in every event).
    own_id: bool = False


@activity.defn
async def create_payment(checkout: Checkout) -> dict[str, Any]:
    """Create the payment intent; its ID (`id` in the answer), or the stage's own ID, is the key it waits on."""
    own = {"stage_ref": current_stage().idempotency_key} if checkout.own_id else {}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{checkout.vendor_url}/v1/payment_intents",
            json={
                "amount": checkout.amount,
                "currency": "eur",
                "metadata": {"scenario": checkout.scenario, **checkout.metadata, **own},
            },
        )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer
