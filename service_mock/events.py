"""Builds the callback bodies a job emits, from its action."""

from __future__ import annotations

from typing import Any

from service_mock.jobs import Job, utc_now_iso
from service_mock.wire import Callback, CallbackStatus


def progress_callback(job: Job, number: int, count: int) -> Callback:
    """Progress callback `number` (1-based) of `count`; percent leaves room for the final step."""
    return Callback(
        callback_id=f"{job.job_id}:progress:{number}",
        status="progress",
        result={"job_id": job.job_id, "percent": round(100 * number / (count + 1))},
        error=None,
        progress=number,
        sent_at=utc_now_iso(),
    )


def final_callback(job: Job, progress_sent: int) -> Callback | None:
    """The job's last callback, or None for action `ignore`, which never answers."""
    job_id = job.job_id
    status: CallbackStatus
    result: dict[str, Any] | None = None
    error: str | None = None
    match job.request.action:
        case "complete" | "heartbeat":
            status, result = "completed", {"job_id": job_id, "payload": job.request.payload}
        case "fail":
            status, error = "failed", f"service failed job {job_id}: simulated failure"
        case "report_cancellation":
            status, error = "cancelled", f"service cancelled job {job_id}"
        case "ignore":
            return None
    return Callback(
        callback_id=f"{job_id}:final",
        status=status,
        result=result,
        error=error,
        progress=progress_sent,
        sent_at=utc_now_iso(),
    )
