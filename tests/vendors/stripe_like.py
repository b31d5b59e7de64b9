"""A fake of a Stripe-style payments API: ONE account-wide webhook endpoint, signed events, the vendor's own IDs.

    POST /v1/payment_intents {"amount", "currency", "metadata": {...}}  -> 200 payment intent {"id": "pi_...", ...}

No callback URL per request: every event of the account goes to the endpoint set "in the dashboard" (the
fake's `endpoint`, e.g. the callback server's `/hooks/pay`), as a Stripe event
`{"id": "evt_...", "type": "payment_intent.succeeded", "data": {"object": <the payment intent>}}`, signed
with the `stripe` SDK's own `Stripe-Signature` (t=, v1=). The caller picks a scenario with
`metadata.scenario` (see `Scenario`); Stripe echoes `metadata` in every event, so a stage may also find its
own reference there.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Router, post
from litestar.params import JSONBody
from stripe import WebhookSignature

from tests.vendors.common import Background, Deliveries, Scenario, deliver

OUTCOME_EVENTS = {
    Scenario.FAIL: "payment_intent.payment_failed",
    Scenario.CANCEL: "payment_intent.canceled",
}


@dataclass
class Stripe:
    """The fake's state: where the account's events go, its signing secret, and every delivery it made."""

    deliveries: Deliveries
    secret: str
    endpoint: str = ""
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    background: Background = field(default_factory=Background)

    def event(self, intent: dict[str, Any], event_type: str, *, event_id: str | None = None) -> dict[str, Any]:
        """A Stripe event about the intent as it is now."""
        return {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": dict(intent)},
        }

    async def send(self, event: dict[str, Any]) -> int:
        """POST one event to the account's endpoint, signed by the SDK (a fresh timestamp on every attempt)."""
        payload = json.dumps(event)

        async def post_once(http: Any) -> Any:
            header = WebhookSignature.generate_signature_header(payload, self.secret, timestamp=int(time.time()))
            headers = {"stripe-signature": header, "content-type": "application/json"}
            return await http.post(self.endpoint, content=payload, headers=headers)

        return await deliver(self.deliveries, f"{event['type']}:{event['id']}", post_once)

    async def run(self, intent: dict[str, Any], scenario: Scenario) -> None:
        """What happens to a payment after the API answered (an early scenario already sent its event)."""
        wait = self.deliveries.delay
        if scenario is Scenario.EARLY:
            return
        await asyncio.sleep(wait)
        if scenario is Scenario.OUT_OF_ORDER:
            final = self._finish(intent, Scenario.SUCCEED)
            await self.send(self.event(final, "payment_intent.succeeded"))
            await self.send(self.event({**final, "status": "processing"}, "payment_intent.processing"))
            return
        intent["status"] = "processing"
        await self.send(self.event(intent, "payment_intent.processing"))
        if scenario is Scenario.NEVER:
            return
        await asyncio.sleep(wait)
        final = self._finish(intent, scenario)
        event = self.event(final, OUTCOME_EVENTS.get(scenario, "payment_intent.succeeded"))
        await self.send(event)
        if scenario is Scenario.TWICE:
            await self.send(event)  # the same event ID again: Stripe thought the first delivery was lost

    def _finish(self, intent: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
        if scenario is Scenario.FAIL:
            intent.update(status="requires_payment_method", last_payment_error={"message": "card declined"})
        elif scenario is Scenario.CANCEL:
            intent.update(status="canceled", cancellation_reason="abandoned")
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
        return dict(intent)


def create_router(fake: Stripe) -> Router:
    """The fake's routes."""

    @post("/v1/payment_intents", status_code=200)
    async def create_payment_intent(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        metadata = dict(data.get("metadata") or {})
        scenario = Scenario(metadata.get("scenario", Scenario.SUCCEED))
        intent: dict[str, Any] = {
            "id": f"pi_{uuid.uuid4().hex[:24]}",
            "object": "payment_intent",
            "amount": int(data.get("amount", 0)),
            "currency": data.get("currency", "eur"),
            "metadata": metadata,
            "status": "requires_confirmation",
        }
        fake.intents[intent["id"]] = intent
        if scenario is Scenario.EARLY:  # settled so fast that the event beats the API's own answer
            final = fake._finish(intent, Scenario.SUCCEED)
            await fake.send(fake.event(final, "payment_intent.succeeded"))
            answer = dict(intent)
            answer["status"] = "requires_confirmation"  # the answer was written before the event
        else:
            answer = dict(intent)
        fake.background.run(fake.run(intent, scenario))
        return answer

    return Router("/", route_handlers=[create_payment_intent])


def create_app(fake: Stripe) -> Litestar:
    """The fake alone."""
    return Litestar(route_handlers=[create_router(fake)], on_shutdown=[fake.background.stop], logging_config=None)
