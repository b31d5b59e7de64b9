"""A fake of a Twilio-style messaging account whose status callbacks go to ONE account-wide URL.

    POST /account-wide/2010-04-01/Accounts/{sid}/Messages.json  To, From, Body  -> 201 {"sid": "SM...", ...}

Unlike `twilio_like` (a `StatusCallback` URL per message), no callback URL is sent with the request: every
status change of every message of the account is POSTed to the URL set "in the console" (the fake's
`endpoint`), `application/x-www-form-urlencoded`, signed by the `twilio` SDK's own
`RequestValidator.compute_signature` over the URL as configured at Twilio (`public_url`, which behind a proxy
differs from the one the request reaches) and the form fields. The message SID from the create answer names the
message; there is no event ID (a retry is the same bytes again). Statuses: queued, sent, delivered, failed,
undelivered, canceled. The caller picks a scenario with the message body `scenario:<name>`. Routes sit under
`/account-wide` so that this fake and `twilio_like` can be served side by side (tests/vendors/serve.py).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import Litestar, Request, Router, post
from litestar.datastructures import State
from litestar.params import FromPath
from twilio.request_validator import RequestValidator

from tests.vendors.common import OVERSIZED_BYTES, Background, Deliveries, Scenario, deliver
from tests.vendors.twilio_like import FORM, status_fields

PREFIX = "/account-wide"
FINAL_STATUS = {Scenario.FAIL: "undelivered", Scenario.CANCEL: "canceled"}


class TwilioAccount:
    """The fake's state: where the account's status callbacks go, the Auth Token, messages by SID."""

    def __init__(self, deliveries: Deliveries, auth_token: str, *, endpoint: str = "", public_url: str = "") -> None:
        self.deliveries = deliveries
        self.validator = RequestValidator(auth_token)
        self.endpoint = endpoint  # where the callbacks are POSTed (the callback server, maybe behind a proxy)
        self.public_url = public_url or endpoint  # the URL configured in the console: what is signed
        self.messages: dict[str, dict[str, str]] = {}
        self.background = Background()

    async def status(self, message: dict[str, str], status: str, *, pad: int = 0) -> int:
        """POST one status callback, form-encoded and signed by the SDK."""
        fields = status_fields(message, status, pad=pad)
        content = urlencode(fields)
        signature = self.validator.compute_signature(self.public_url, fields)
        headers = {"content-type": FORM, "x-twilio-signature": signature}
        return await deliver(
            self.deliveries, status, lambda http: http.post(self.endpoint, content=content, headers=headers)
        )

    async def run(self, message: dict[str, str], scenario: Scenario) -> None:
        """What happens to a message after the API answered (an early scenario already sent its status)."""
        wait = self.deliveries.delay
        if scenario is Scenario.EARLY:
            return
        await asyncio.sleep(wait)
        if scenario is Scenario.OUT_OF_ORDER:
            await self.status(message, "delivered")
            await self.status(message, "sent")
            return
        await self.status(message, "sent")
        if scenario is Scenario.NEVER:
            return
        await asyncio.sleep(wait)
        final = FINAL_STATUS.get(scenario, "delivered")
        await self.status(message, final, pad=OVERSIZED_BYTES if scenario is Scenario.OVERSIZED else 0)
        if scenario is Scenario.TWICE:
            await self.status(message, final)  # the same bytes again: Twilio thought the first was lost


def create_router(fake: TwilioAccount) -> Router:
    """The fake's routes, under `PREFIX`."""

    @post("/2010-04-01/Accounts/{account_sid:str}/Messages.json", status_code=201)
    async def create_message(request: Request[object, object, State], account_sid: FromPath[str]) -> dict[str, Any]:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            data = {str(k): str(v) for k, v in (await request.json()).items()}
        else:
            data = dict(parse_qsl(raw.decode()))
        sid = "SM" + uuid.uuid4().hex
        message = {"sid": sid, "AccountSid": account_sid, "To": data["To"], "From": data["From"]}
        fake.messages[sid] = message
        scenario_name = data.get("Body", "").removeprefix("scenario:")
        scenario = Scenario(scenario_name) if scenario_name in set(Scenario) else Scenario.SUCCEED
        if scenario is Scenario.EARLY:  # delivered so fast that the callback beats the API's own answer
            await fake.status(message, "delivered")
        fake.background.run(fake.run(message, scenario))
        return {"sid": sid, "status": "queued", "to": message["To"], "from": message["From"]}

    return Router(PREFIX, route_handlers=[create_message])


def create_app(fake: TwilioAccount) -> Litestar:
    """The fake alone."""
    return Litestar(route_handlers=[create_router(fake)], on_shutdown=[fake.background.stop], logging_config=None)
