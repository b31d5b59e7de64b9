"""In-memory job registry: job state, lookup by id, and idempotency-key deduplication."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from service_mock.delivery import Attempt
from service_mock.wire import Callback, JobRequest, JobView


def utc_now_iso() -> str:
    """Current UTC time as ISO-8601 with an explicit offset."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(eq=False, slots=True)
class Job:
    """One accepted request and everything that happened to its callbacks since."""

    job_id: str
    request: JobRequest
    # Monotonic (event-loop clock) arrival time; callbacks are scheduled from it, not from the answer.
    arrived_at: float
    # Mutable: a duplicate request with a new URL (a retried activity's new task token) switches it.
    callback_url: str
    created_at: str = field(default_factory=utc_now_iso)
    events_emitted: int = 0
    progress_sent: int = 0
    final: Callback | None = None
    # URLs that the final callback has been delivered to (or given up on), so a retarget knows what is missing.
    final_urls: set[str] = field(default_factory=set)
    deliveries: int = 0
    deliveries_failed: int = 0
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    done: bool = False

    @property
    def due_at(self) -> float:
        """Event-loop time at which the first callback is due."""
        return self.arrived_at + self.request.time_to_callback + self.request.extra_delay

    def record_attempt(self, attempt: Attempt) -> None:
        """Account for one HTTP attempt."""
        self.attempts += 1
        self.last_status_code = attempt.status_code
        self.last_error = attempt.error

    def view(self) -> JobView:
        """The public snapshot served by GET /jobs/{job_id}."""
        return JobView(
            job_id=self.job_id,
            action=self.request.action,
            callback_url=self.callback_url,
            idempotency_key=self.request.idempotency_key,
            created_at=self.created_at,
            events_emitted=self.events_emitted,
            deliveries=self.deliveries,
            deliveries_failed=self.deliveries_failed,
            attempts=self.attempts,
            last_status_code=self.last_status_code,
            last_error=self.last_error,
            done=self.done,
            final=self.final,
        )


class JobRegistry:
    """All jobs since start-up, by id and by idempotency key; a mock keeps them for its whole life."""

    def __init__(self) -> None:
        self._by_id: dict[str, Job] = {}
        self._by_key: dict[str, Job] = {}

    def admit(self, request: JobRequest, *, arrived_at: float) -> tuple[Job, bool]:
        """Return (job, duplicate): the existing job for a known idempotency key, else a new one."""
        key = request.idempotency_key
        if key is not None and (existing := self._by_key.get(key)) is not None:
            return existing, True
        job = Job(
            job_id=f"job-{uuid.uuid4().hex}",
            request=request,
            arrived_at=arrived_at,
            callback_url=request.callback_url,
        )
        self._by_id[job.job_id] = job
        if key is not None:
            self._by_key[key] = job
        return job, False

    def get(self, job_id: str) -> Job | None:
        """The job with this id, if any."""
        return self._by_id.get(job_id)

    def by_key(self, idempotency_key: str) -> Job | None:
        """The job admitted under this idempotency key, if any."""
        return self._by_key.get(idempotency_key)

    def __len__(self) -> int:
        return len(self._by_id)
