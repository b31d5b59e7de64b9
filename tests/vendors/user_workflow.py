"""A stagegate user's workflow: one stage against one vendor, waiting for the vendor's own callback body."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app import Mode, StageGate, StageRecord
    from tests.vendors.styles import ASSEMBLY_NOTIFY, REPLICATE, TWILIO, assembly_fetch
    from tests.vendors.user_activities import VendorActivities, VendorCall

STYLES = {
    "replicate": (VendorActivities.start_prediction, REPLICATE),
    "assembly": (VendorActivities.start_transcript, ASSEMBLY_NOTIFY),
    "twilio": (VendorActivities.send_message, TWILIO),
}


@dataclass(frozen=True)
class VendorRunInput:
    """Which vendor style, scenario and mode; the stage's timeout in seconds."""

    style: str
    scenario: str
    vendor_url: str
    mode: Mode = Mode.SIGNAL
    timeout: float = 30.0
    # A fetch URL the vendor does not serve (the fetch fails for good).
    broken_fetch: bool = False


@workflow.defn
class VendorWorkflow:
    """Runs one stage through the gate with the style's callback shape; returns the stage's record."""

    @workflow.init
    def __init__(self, inp: VendorRunInput) -> None:
        self._gate = StageGate(mode=inp.mode)

    @workflow.run
    async def run(self, inp: VendorRunInput) -> StageRecord:
        activity, shape = STYLES[inp.style]
        fetch = None
        if inp.style == "assembly":  # notify, then fetch
            fetch = assembly_fetch(inp.vendor_url, path="/v2/no-such-route/" if inp.broken_fetch else "/v2/transcript/")
        record = await self._gate.call_and_wait(
            activity,
            VendorCall(inp.vendor_url, inp.scenario),
            stage=inp.style,
            timeout=inp.timeout,
            callback=shape,
            fetch=fetch,
        )
        await self._gate.finish()
        return record
