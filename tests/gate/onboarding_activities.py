"""A larger own-workflow example, part 1: the user's payloads and activities.

Nothing here is stagegate's own code: the activities call two different endpoints of the user's service
(`tests/gate/kyc_esign_service.py`); the gate only hands them the callback URL and the idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from temporalio import activity

from app import GateState, Mode, StageRecord, current_stage


@dataclass(frozen=True)
class KycRequest:
    """Input of the user's KYC activity."""

    person: str


@dataclass(frozen=True)
class SignatureRequest:
    """Input of the user's e-signature activity: built from the KYC stage's result."""

    signer: str
    document: str


@dataclass(frozen=True)
class OnboardingInput:
    """The user's workflow input: the run's mode, and an optional override for the e-signature stage."""

    person: str
    document: str
    mode: Mode = Mode.SIGNAL
    esign_mode: Mode | None = None
    stage_timeout_seconds: float = 30.0
    gate: GateState | None = None  # carried by continue-as-new, if the workflow ever uses it


@dataclass(frozen=True)
class OnboardingResult:
    """How both stages went."""

    kyc: StageRecord
    esign: StageRecord


class OnboardingActivities:
    """The user's activities: how to call THEIR service is their business; the gate gives URL and key."""

    def __init__(self, http: httpx.AsyncClient, service_url: str) -> None:
        self._http = http
        self._url = service_url

    @activity.defn
    async def start_kyc_check(self, req: KycRequest) -> str:
        """POST /kyc/checks; the service calls `webhook_url` when the check is done."""
        stage = current_stage()
        response = await self._http.post(
            f"{self._url}/kyc/checks",
            json={"person": req.person, "webhook_url": stage.callback_url},
            headers={"Idempotency-Key": stage.idempotency_key},
        )
        response.raise_for_status()
        return str(response.json()["check_id"])

    @activity.defn
    async def send_for_signature(self, req: SignatureRequest) -> str:
        """POST /esign/envelopes; this service wants its callback URL in `notify.url`."""
        stage = current_stage()
        response = await self._http.post(
            f"{self._url}/esign/envelopes",
            json={"signer_name": req.signer, "document": req.document, "notify": {"url": stage.callback_url}},
            headers={"Idempotency-Key": stage.idempotency_key},
        )
        response.raise_for_status()
        return str(response.json()["envelope_id"])
