"""A fake of a Replicate-style prediction API: a per-request webhook URL, its own prediction body, progress events.

    POST /v1/predictions {"version", "input", "webhook", "webhook_events_filter"}  -> 201 prediction
    GET  /v1/predictions/{id}                                                       -> the prediction now

Each webhook POSTs the WHOLE prediction object (`{"id", "status": "starting"|"processing"|"succeeded"|
"failed"|"canceled", "output", "error", "logs", ...}`) for the events the filter lets through (`start`,
`logs`, `output`, `completed`; all by default), signed the Standard Webhooks way (`webhook-id`,
`webhook-timestamp`, `webhook-signature`) when the fake has a signing key, as Replicate does. The caller
picks a scenario with `input.scenario` (see `Scenario`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from standardwebhooks.webhooks import Webhook

from tests.vendors.common import OVERSIZED_BYTES, Background, Deliveries, Scenario, deliver

ALL_EVENTS = ("start", "output", "logs", "completed")


class Replicate:
    """The fake's state: predictions by ID and every delivery it made."""

    def __init__(self, deliveries: Deliveries, *, signing_key: str | None = None) -> None:
        self.deliveries = deliveries
        self.signer = Webhook(signing_key) if signing_key else None
        self.predictions: dict[str, dict[str, Any]] = {}
        self.background = Background()

    async def send(self, prediction: dict[str, Any], event: str, url: str, *, event_id: str | None = None) -> int:
        """POST the prediction as it is now; `event_id` repeats an earlier delivery (a retry)."""
        payload = json.dumps(prediction)
        msg_id = event_id or f"msg_{uuid.uuid4().hex}"
        headers = {"content-type": "application/json", "webhook-id": msg_id}
        if self.signer is not None:
            now = datetime.now(UTC)
            headers |= {
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(msg_id, now, payload),
            }
        label = f"{event}:{prediction['status']}"
        return await deliver(self.deliveries, label, lambda http: http.post(url, content=payload, headers=headers))

    async def run(self, prediction: dict[str, Any], scenario: Scenario, url: str, events: tuple[str, ...]) -> None:
        """What happens to a prediction after the API answered (the early part already ran)."""
        wait = self.deliveries.delay
        emit = self._emitter(prediction, url, events)
        if scenario is Scenario.EARLY:
            return  # it finished before the API even answered (see create_prediction)
        if scenario is Scenario.OUT_OF_ORDER:
            await asyncio.sleep(wait)
            final = self._finish(prediction, "succeeded")
            await emit("completed", final)
            await emit("logs", {**final, "status": "processing", "logs": "late log line"})
            return
        await asyncio.sleep(wait)
        await emit("start", prediction)
        await asyncio.sleep(wait)
        prediction.update(status="processing", logs="loading weights\n")
        await emit("logs", dict(prediction))
        if scenario is Scenario.NEVER:
            return
        await asyncio.sleep(wait)
        outcome = {Scenario.FAIL: "failed", Scenario.CANCEL: "canceled"}.get(scenario, "succeeded")
        final = self._finish(prediction, outcome, oversized=scenario is Scenario.OVERSIZED)
        event_id = f"msg_{uuid.uuid4().hex}"
        await emit("completed", final, event_id)
        if scenario is Scenario.TWICE:
            await emit("completed", final, event_id)

    def _emitter(self, prediction: dict[str, Any], url: str, events: tuple[str, ...]) -> Any:
        async def emit(event: str, body: dict[str, Any], event_id: str | None = None) -> None:
            if event in events:
                await self.send(dict(body), event, url, event_id=event_id)

        return emit

    def _finish(self, prediction: dict[str, Any], status: str, *, oversized: bool = False) -> dict[str, Any]:
        prediction["status"] = status
        prediction["completed_at"] = datetime.now(UTC).isoformat()
        if status == "succeeded":
            prediction["output"] = [f"https://replicate.delivery/{prediction['id']}/out-0.png"]
            if oversized:
                prediction["logs"] = "x" * OVERSIZED_BYTES
        elif status == "failed":
            prediction["error"] = "CUDA out of memory"
        return dict(prediction)


def create_router(fake: Replicate) -> Router:
    """The fake's routes (a Router, so one app can serve every fake)."""

    @post("/v1/predictions", status_code=201)
    async def create_prediction(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        scenario = Scenario(data.get("input", {}).get("scenario", Scenario.SUCCEED))
        events = tuple(data.get("webhook_events_filter") or ALL_EVENTS)
        prediction: dict[str, Any] = {
            "id": uuid.uuid4().hex[:20],
            "version": data.get("version"),
            "input": data.get("input", {}),
            "status": "starting",
            "output": None,
            "error": None,
            "logs": "",
            "created_at": datetime.now(UTC).isoformat(),
        }
        fake.predictions[prediction["id"]] = prediction
        url = str(data["webhook"])
        if scenario is Scenario.EARLY:  # finished so fast that the webhook beats the API's own answer
            final = fake._finish(prediction, "succeeded")
            if "completed" in events:
                await fake.send(final, "completed", url)
        fake.background.run(fake.run(prediction, scenario, url, events))
        return dict(prediction)

    @get("/v1/predictions/{prediction_id:str}")
    async def get_prediction(prediction_id: FromPath[str]) -> dict[str, Any]:
        try:
            return dict(fake.predictions[prediction_id])
        except KeyError:
            raise NotFoundException(f"no prediction {prediction_id}") from None

    return Router("/", route_handlers=[create_prediction, get_prediction])


def create_app(fake: Replicate) -> Litestar:
    """The fake alone."""
    return Litestar(route_handlers=[create_router(fake)], on_shutdown=[fake.background.stop], logging_config=None)
