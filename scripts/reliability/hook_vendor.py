"""The `hooks` row's vendor: a Stripe-style payments API with ONE account-wide webhook endpoint, as a bare ASGI app.

    POST /v1/payment_intents {"amount", "metadata": {"run", "stage", "plan"}} -> 200 {"id": "pi_...", ...}

Every event of the account goes to `endpoint` (the callback server's `/hooks/pay`), signed with the `stripe`
SDK's own `Stripe-Signature` header (a fresh timestamp on each attempt), and, as Stripe does, is sent again on
any non-2xx answer or connection error with exponential backoff (capped, so that the row stays short; Stripe's
own schedule spans days). Each event goes out `copies` times (the vendor believed the earlier ones lost). The
plan says when: `on_time` (processing, then succeeded), `early` (succeeded before the create request is
answered) or `out_of_order` (succeeded first, a processing event after it).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from stripe import WebhookSignature

from scripts.bench.stub_service import Receive, Scope, Send

RETRY_INITIAL = 0.5
RETRY_MAX = 15.0
GIVE_UP_AFTER = 600.0  # bounded: a row never sends forever
EARLY_FIRST_ATTEMPT_WAIT = 3.0  # an early event's first attempt is made before the create request is answered


class Plan(StrEnum):
    """When a payment's events go out."""

    ON_TIME = "on_time"
    EARLY = "early"
    OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True)
class Intent:
    """One payment intent the fake made, and for whom."""

    id: str
    run: str
    stage: str
    plan: Plan


@dataclass
class HookVendor:
    """The fake's state: where events go, how they are signed, every intent made and every answer got."""

    secret: str
    endpoint: str = ""
    copies: int = 3
    delay: tuple[float, float] = (0.5, 3.0)  # seconds from the create request to the first event (uniform)
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311  # timing, not crypto
    http: httpx.AsyncClient | None = None
    intents: dict[str, Intent] = field(default_factory=dict)
    answers: Counter[int] = field(default_factory=Counter)  # status -> attempts (0: no answer)
    bare_503: int = 0  # 503 answers without Retry-After
    given_up: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def jobs_of(self, run: str, stage: str) -> list[str]:
        """IDs of the intents made for one stage of one run (a retried request makes another)."""
        return [i.id for i in self.intents.values() if i.run == run and i.stage == stage]

    def event(self, intent: dict[str, Any], event_type: str) -> dict[str, Any]:
        return {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": dict(intent)},
        }

    async def _attempt(self, payload: str) -> int:
        assert self.http is not None
        header = WebhookSignature.generate_signature_header(payload, self.secret, timestamp=int(time.time()))
        headers = {"stripe-signature": header, "content-type": "application/json"}
        try:
            answer = await self.http.post(self.endpoint, content=payload, headers=headers)
        except httpx.HTTPError:
            self.answers[0] += 1
            return 0
        self.answers[answer.status_code] += 1
        if answer.status_code == 503 and "retry-after" not in answer.headers:
            self.bare_503 += 1
        return answer.status_code

    async def send(self, event: dict[str, Any]) -> None:
        """Deliver one copy of an event: retried with backoff until a 2xx (or GIVE_UP_AFTER)."""
        payload = json.dumps(event)
        began, wait = time.monotonic(), RETRY_INITIAL
        while True:
            status = await self._attempt(payload)
            if 200 <= status < 300:
                return
            if time.monotonic() - began > GIVE_UP_AFTER:
                self.given_up += 1
                return
            await asyncio.sleep(wait * self.rng.uniform(0.75, 1.25))
            wait = min(wait * 2, RETRY_MAX)

    async def send_copies(self, event: dict[str, Any]) -> None:
        """The event `copies` times, the later copies a moment after the first (each retried on its own)."""

        async def later() -> None:
            await asyncio.sleep(self.rng.uniform(0.0, 2.0))
            await self.send(event)

        await asyncio.gather(self.send(event), *(later() for _ in range(self.copies - 1)))

    def background(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def life(self, intent: dict[str, Any], plan: Plan) -> None:
        """What happens to a payment after its create request (an early one already sent its final event)."""
        await asyncio.sleep(self.rng.uniform(*self.delay))
        done = intent | {"status": "succeeded", "amount_received": intent["amount"]}
        if plan is Plan.EARLY:
            await self.send_copies(self.event(intent | {"status": "processing"}, "payment_intent.processing"))
        elif plan is Plan.OUT_OF_ORDER:
            await self.send_copies(self.event(done, "payment_intent.succeeded"))
            await self.send_copies(self.event(intent | {"status": "processing"}, "payment_intent.processing"))
        else:
            await self.send_copies(self.event(intent | {"status": "processing"}, "payment_intent.processing"))
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            await self.send_copies(self.event(done, "payment_intent.succeeded"))

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        metadata = {k: str(v) for k, v in dict(body.get("metadata") or {}).items()}
        plan = Plan(metadata.get("plan", Plan.ON_TIME))
        intent_id = f"pi_{uuid.uuid4().hex[:24]}"
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(body.get("amount", 0)),
            "currency": "eur",
            "metadata": metadata,
            "status": "requires_confirmation",
        }
        self.intents[intent_id] = Intent(intent_id, metadata.get("run", ""), metadata.get("stage", ""), plan)
        if plan is Plan.EARLY:  # settled so fast that the event's first attempt beats the API's own answer
            done = intent | {"status": "succeeded", "amount_received": intent["amount"]}
            sending = self.background(self.send_copies(self.event(done, "payment_intent.succeeded")))
            await asyncio.wait({sending}, timeout=EARLY_FIRST_ATTEMPT_WAIT)
        self.background(self.life(intent, plan))
        return intent

    async def drain(self, timeout: float) -> None:
        """Wait for every send still retrying (bounded), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST" and scope["path"] == "/v1/payment_intents":
            status, answer = 200, await self.create(json.loads(body or b"{}"))
        else:
            status, answer = 404, {"error": {"message": f"no route {scope['method']} {scope['path']}"}}
        data = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
