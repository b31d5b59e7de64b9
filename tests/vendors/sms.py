"""A user's own workflow against the Twilio-style account-wide fake: one stage waiting on a fixed endpoint.

The activity creates a message (no callback URL); the stage waits on source `sms` and the message SID, read
from what the activity returned.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app import StageGate, StageRecord
    from tests.vendors.sms_activities import SMS_STATUS, Sms, send_sms


@workflow.defn
class SmsWorkflow:
    """Send a message, waiting on the account's status callbacks for its SID."""

    @workflow.init
    def __init__(self, sms: Sms) -> None:
        self.gate = StageGate(mode=sms.mode)

    @workflow.run
    async def run(self, sms: Sms) -> StageRecord:
        """One stage; its record is the run's result."""
        record = await self.gate.call_and_wait(
            send_sms,
            sms,
            stage="deliver",
            timeout=timedelta(seconds=sms.timeout_seconds),
            source="sms",
            key_path="sid",
            callback=SMS_STATUS,
        )
        await self.gate.finish()
        return record
