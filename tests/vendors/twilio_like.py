"""A fake of a Twilio-style messaging API: status callbacks are form-encoded, one per status change.

    POST /2010-04-01/Accounts/{sid}/Messages.json  To, From, Body, StatusCallback  -> 201 {"sid", "status": "queued"}

(form-encoded like Twilio's API; JSON is taken too, so a pipeline stage's JSON request reaches it). Each status
change POSTs `application/x-www-form-urlencoded` fields to StatusCallback: `MessageSid`, `MessageStatus`
(`queued`, `sent`, `delivered`, `undelivered`, `failed`, `canceled`), `ErrorCode` on failures, `AccountSid`,
`To`, `From`, `ApiVersion`. No event ID: a retried callback is the same bytes again. The caller picks a scenario
with the message body `scenario:<name>`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import Litestar, Request, Router, post
from litestar.datastructures import State
from litestar.params import FromPath

from tests.vendors.common import OVERSIZED_BYTES, Background, Deliveries, Scenario, deliver

FORM = "application/x-www-form-urlencoded"


def status_fields(message: dict[str, str], status: str, *, pad: int = 0) -> dict[str, str]:
    """The form fields of one of Twilio's status callbacks about `message` (`pad`: an oversized one)."""
    fields = {
        "AccountSid": message["AccountSid"],
        "MessageSid": message["sid"],
        "SmsSid": message["sid"],
        "MessageStatus": status,
        "SmsStatus": status,
        "To": message["To"],
        "From": message["From"],
        "ApiVersion": "2010-04-01",
    }
    if status in ("failed", "undelivered"):
        fields["ErrorCode"] = "30003"
    if pad:
        fields["Padding"] = "x" * pad
    return fields


class Twilio:
    """The fake's state: messages by SID and every delivery it made."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.messages: dict[str, dict[str, str]] = {}
        self.background = Background()

    async def status(self, message: dict[str, str], status: str, url: str, *, pad: int = 0) -> int:
        fields = status_fields(message, status, pad=pad)
        content = urlencode(fields)
        return await deliver(
            self.deliveries, status, lambda http: http.post(url, content=content, headers={"content-type": FORM})
        )

    async def run(self, message: dict[str, str], scenario: Scenario, url: str) -> None:
        wait = self.deliveries.delay
        if scenario is Scenario.EARLY:
            return
        if scenario is Scenario.OUT_OF_ORDER:
            await asyncio.sleep(wait)
            await self.status(message, "delivered", url)
            await self.status(message, "sent", url)
            return
        await asyncio.sleep(wait)
        await self.status(message, "sent", url)
        if scenario is Scenario.NEVER:
            return
        await asyncio.sleep(wait)
        final = {Scenario.FAIL: "undelivered", Scenario.CANCEL: "canceled"}.get(scenario, "delivered")
        await self.status(message, final, url, pad=OVERSIZED_BYTES if scenario is Scenario.OVERSIZED else 0)
        if scenario is Scenario.TWICE:
            await self.status(message, final, url)


def create_router(fake: Twilio) -> Router:
    """The fake's routes."""

    @post("/2010-04-01/Accounts/{account_sid:str}/Messages.json", status_code=201)
    async def create_message(request: Request[object, object, State], account_sid: FromPath[str]) -> dict[str, Any]:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            data = {str(k): str(v) for k, v in (await request.json()).items()}
        else:
            data = dict(parse_qsl(raw.decode()))
        sid = "SM" + uuid.uuid4().hex
        message = {"sid": sid, "AccountSid": account_sid, "To": data["To"], "From": data["From"], "status": "queued"}
        fake.messages[sid] = message
        scenario_name = data.get("Body", "").removeprefix("scenario:")
        scenario = Scenario(scenario_name) if scenario_name in set(Scenario) else Scenario.SUCCEED
        url = data["StatusCallback"]
        if scenario is Scenario.EARLY:
            await fake.status(message, "delivered", url)
        fake.background.run(fake.run(message, scenario, url))
        return {"sid": sid, "status": "queued", "to": message["To"], "from": message["From"]}

    return Router("/", route_handlers=[create_message])


def create_app(fake: Twilio) -> Litestar:
    """The fake alone."""
    return Litestar(route_handlers=[create_router(fake)], on_shutdown=[fake.background.stop], logging_config=None)
