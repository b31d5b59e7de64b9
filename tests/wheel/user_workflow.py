"""Your own workflow with two stages that wait for HTTP callbacks, written with stagegate's public names only.

This is the README's "your own workflow" example, whole: `tests/wheel/test_installed_wheel.py` runs it from the
installed wheel against a real Temporal dev server, the `stagegate-callback-server` console script and a small
KYC / e-signature service, in every mode. Run it yourself with a Temporal server, a callback server and your
service up (the same variables the callback server reads):

    TEMPORAL_ADDRESS=localhost:7233 CALLBACK_BASE_URL=http://localhost:8000 CALLBACK_SIGNING_SECRETS=... \\
    SERVICE_URL=http://localhost:9000 python user_workflow.py signal
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# Workflow code runs in Temporal's sandbox; what it imports besides workflow code is passed through.
with workflow.unsafe.imports_passed_through():
    import httpx

    from app import CallbackSigner, Mode, StageGate, StageGateInterceptor, current_stage, stage_failure


@dataclass(frozen=True)
class OnboardingInput:
    person: str
    mode: Mode = Mode.SIGNAL


@dataclass(frozen=True)
class Onboarded:
    verified_name: str
    signed_by: str


class OnboardingActivities:
    """How to call YOUR service is your business; the gate hands you the callback URL and an idempotency key."""

    def __init__(self, http: httpx.AsyncClient, service_url: str) -> None:
        self.http = http
        self.service_url = service_url

    @activity.defn
    async def start_kyc_check(self, person: str) -> str:
        stage = current_stage()  # this stage's signed callback URL, for this run and mode
        response = await self.http.post(
            f"{self.service_url}/kyc/checks",
            json={"person": person, "webhook_url": stage.callback_url},
            headers={"Idempotency-Key": stage.idempotency_key},
        )
        response.raise_for_status()
        return str(response.json()["check_id"])

    @activity.defn
    async def send_for_signature(self, signer: str) -> str:
        stage = current_stage()
        response = await self.http.post(
            f"{self.service_url}/esign/envelopes",
            json={"signer_name": signer, "document": "contract-7", "notify": {"url": stage.callback_url}},
            headers={"Idempotency-Key": stage.idempotency_key},
        )
        response.raise_for_status()
        return str(response.json()["envelope_id"])


@workflow.defn
class OnboardingWorkflow:
    """A KYC check, then an e-signature by the name the check verified: each stage waits for its callback."""

    @workflow.init
    def __init__(self, inp: OnboardingInput) -> None:
        self.gate = StageGate(mode=inp.mode, stages=["kyc", "esign"])

    @workflow.run
    async def run(self, inp: OnboardingInput) -> Onboarded:
        wait = timedelta(minutes=10)
        kyc = await self.gate.call_and_wait(OnboardingActivities.start_kyc_check, inp.person, stage="kyc", timeout=wait)
        if not kyc.ok:
            raise stage_failure(kyc)  # the run fails with the stage's typed error
        verified = str((kyc.result or {}).get("verified_name", inp.person))
        esign = await self.gate.call_and_wait(
            OnboardingActivities.send_for_signature, verified, stage="esign", timeout=wait
        )
        if not esign.ok:
            raise stage_failure(esign)
        await self.gate.finish()  # returns once every callback handler has finished
        return Onboarded(verified_name=verified, signed_by=str((esign.result or {}).get("signed_by")))


async def main(modes: list[Mode]) -> None:
    """Run a worker for the workflow, start one run per mode, print each result as one JSON line."""
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    signer = CallbackSigner(os.environ["CALLBACK_BASE_URL"], os.environ["CALLBACK_SIGNING_SECRETS"].split(",")[0])
    async with httpx.AsyncClient(timeout=10) as http:
        activities = OnboardingActivities(http, os.environ["SERVICE_URL"])
        async with Worker(
            client,
            task_queue="onboarding",
            workflows=[OnboardingWorkflow],
            activities=[activities.start_kyc_check, activities.send_for_signature],
            interceptors=[StageGateInterceptor(signer)],  # carries each stage's callback URL to its activity
        ):
            for mode in modes:
                result = await client.execute_workflow(
                    OnboardingWorkflow.run,
                    OnboardingInput(person="ada lovelace", mode=mode),
                    id=f"onboarding-{mode.value}-{uuid.uuid4().hex[:8]}",
                    task_queue="onboarding",
                )
                print(
                    json.dumps(
                        {"mode": mode.value, "verified_name": result.verified_name, "signed_by": result.signed_by}
                    )
                )


if __name__ == "__main__":
    asyncio.run(main([Mode(arg) for arg in sys.argv[1:]] or [Mode.SIGNAL]))
