"""A larger own-workflow example, part 2: the user's workflow with two named stages.

Stage "esign" uses stage "kyc"'s result. `test_own_workflow.py` runs it in every mode on the real dev server.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

# Passed through, as Temporal advises for every non-workflow import: the gate's types must be the same classes
# the worker's interceptor and payload converter use. The face is lazy: this loads the gate's workflow side only.
with workflow.unsafe.imports_passed_through():
    from app import StageGate, stage_failure
    from tests.gate.onboarding_activities import (
        KycRequest,
        OnboardingActivities,
        OnboardingInput,
        OnboardingResult,
        SignatureRequest,
    )


@workflow.defn
class OnboardingWorkflow:
    """KYC check, then e-signature by the name the KYC check verified."""

    @workflow.init
    def __init__(self, inp: OnboardingInput) -> None:
        self.gate = StageGate(inp.gate, mode=inp.mode, stages=["kyc", "esign"])

    @workflow.run
    async def run(self, inp: OnboardingInput) -> OnboardingResult:
        """Two stages; the first one that does not complete fails the run with its typed error."""
        timeout = timedelta(seconds=inp.stage_timeout_seconds)
        kyc = await self.gate.call_and_wait(
            OnboardingActivities.start_kyc_check, KycRequest(inp.person), stage="kyc", timeout=timeout
        )
        if not kyc.ok:
            raise stage_failure(kyc)
        # A stage advanced by hand (`--input '{"stage": "kyc"}'`) has no result: fall back to the input.
        signer = (kyc.result or {}).get("verified_name", inp.person)
        esign = await self.gate.call_and_wait(
            OnboardingActivities.send_for_signature,
            SignatureRequest(signer=signer, document=inp.document),
            stage="esign",
            timeout=timeout,
            mode=inp.esign_mode,
        )
        if not esign.ok:
            raise stage_failure(esign)
        await self.gate.finish()
        return OnboardingResult(kyc=kyc, esign=esign)
