"""How each vendor style reports back, as a stagegate user writes it: one `CallbackShape` per style.

The same shapes appear in `pipelines/*_style.yaml` and docs/real-services.md.
"""

from __future__ import annotations

from app import BodyFormat, CallbackShape, FetchSpec

# The whole prediction object; `processing` events are progress; `webhook-id` is each event's own ID.
REPLICATE = CallbackShape(
    outcome="status",
    completed=["succeeded"],
    failed=["failed"],
    cancelled=["canceled"],
    progress=["starting", "processing"],
    result="output",
    error="error",
    event_id_header="webhook-id",
)

# Only "done" or "error" and the transcript's ID: the whole (small) body is the result...
ASSEMBLY_NOTIFY = CallbackShape(outcome="status", completed=["completed"], failed=["error"], cancelled=["deleted"])


def assembly_fetch(vendor_url: str, *, path: str = "/v2/transcript/") -> FetchSpec:
    """...so the transcript itself is fetched after it: the callback's `transcript_id` goes into the URL."""
    return FetchSpec(
        url=vendor_url + path + "${callback.transcript_id}",
        headers={"authorization": "${env.PIPELINE_ASSEMBLYAI_KEY:-aai-test-key}"},
        answer=CallbackShape(
            outcome="status",
            completed=["completed"],
            failed=["error"],
            cancelled=["deleted"],
            progress=["queued", "processing"],  # not finished yet: the fetch is retried inside the stage's time
            error="error",
        ),
    )


# Form fields, one callback per status change; no event ID (a repeat is the same bytes).
TWILIO = CallbackShape(
    body=BodyFormat.FORM,
    outcome="MessageStatus",
    completed=["delivered"],
    failed=["failed", "undelivered"],
    cancelled=["canceled"],
    progress=["queued", "sending", "sent"],
    error="ErrorCode",
)
