"""A stagegate user's activities for the three vendors: each makes the vendor's own request with the callback URL."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from temporalio import activity

from app import current_stage
from tests.vendors.assembly_like import API_KEY


@dataclass(frozen=True)
class VendorCall:
    """Where the vendor is and which scenario the test wants."""

    vendor_url: str
    scenario: str


class VendorActivities:
    """Bound to one shared httpx client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @activity.defn
    async def start_prediction(self, call: VendorCall) -> str:
        """Replicate style: the callback URL is the prediction's `webhook`."""
        response = await self._http.post(
            f"{call.vendor_url}/v1/predictions",
            json={"version": "sdxl", "input": {"prompt": "a gate", "scenario": call.scenario},
                  "webhook": current_stage().callback_url},
        )  # fmt: skip
        response.raise_for_status()
        return str(response.json()["id"])

    @activity.defn
    async def start_transcript(self, call: VendorCall) -> str:
        """AssemblyAI style: the callback URL is the `webhook_url`."""
        response = await self._http.post(
            f"{call.vendor_url}/v2/transcript",
            json={
                "audio_url": f"https://audio.example/{call.scenario}.mp3",
                "webhook_url": current_stage().callback_url,
            },
            headers={"authorization": API_KEY},
        )
        response.raise_for_status()
        return str(response.json()["id"])

    @activity.defn
    async def send_message(self, call: VendorCall) -> str:
        """Twilio style: a form-encoded request; the callback URL is `StatusCallback`."""
        response = await self._http.post(
            f"{call.vendor_url}/2010-04-01/Accounts/AC123/Messages.json",
            data={"To": "+15550100", "From": "+15550199", "Body": f"scenario:{call.scenario}",
                  "StatusCallback": current_stage().callback_url},
        )  # fmt: skip
        response.raise_for_status()
        return str(response.json()["sid"])
