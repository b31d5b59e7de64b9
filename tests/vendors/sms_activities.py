"""The user's activity and values for the SMS workflow (`tests/vendors/sms.py`): outside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from temporalio import activity

from app import CallbackShape, Mode
from tests.vendors.twilio_account import PREFIX

# How a Twilio status callback reads (its form fields, as /hooks decodes them): the status is the outcome,
# the whole callback is the result. Twilio has `canceled` (a scheduled message called off).
SMS_STATUS = CallbackShape(
    outcome="MessageStatus",
    completed=["delivered"],
    failed=["failed", "undelivered"],
    cancelled=["canceled"],
    progress=["queued", "sending", "sent"],
    error="ErrorCode",
)


@dataclass(frozen=True)
class Sms:
    """One message: the fake's scenario (sent as the text), the stage's mode and time."""

    vendor_url: str
    to: str = "+15550100"
    scenario: str = "succeed"
    mode: Mode = Mode.SIGNAL
    timeout_seconds: float = 30.0


@activity.defn
async def send_sms(sms: Sms) -> dict[str, Any]:
    """Create the message (no StatusCallback: the account's URL gets them); its `sid` is the stage's key."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{sms.vendor_url}{PREFIX}/2010-04-01/Accounts/AC123/Messages.json",
            data={"To": sms.to, "From": "+15550199", "Body": f"scenario:{sms.scenario}"},
        )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer
