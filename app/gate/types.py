"""Values of the stage-gate layer that cross Temporal boundaries: gate state, stage records, callbacks, answers.

Add fields with defaults at the end; never reorder or remove (running workflows and recorded histories carry
the old shapes).
"""

# No `from __future__ import annotations` here: the SDK resolves these dataclasses' field types inside the
# workflow sandbox, where string annotations would be looked up in a module the sandbox may not hold.
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Message names a workflow that uses the gate answers to.
SIGNAL_ADVANCE_STAGE = "advance_stage"
UPDATE_ADVANCE_STAGE = "advance_stage"
QUERY_GATE_STATUS = "gate_status"

# The activity header that tells a stage activity which stage, mode and deadline it serves.
STAGE_HEADER = "stagegate-stage"

# ApplicationError types: callers match on these, so they are part of the contract.
ERR_STAGE_FAILED = "StageFailed"
ERR_STAGE_CANCELLED = "StageCancelled"
ERR_STAGE_TIMED_OUT = "StageTimedOut"
ERR_SERVICE_REPORTED_FAILURE = "ServiceReportedFailure"
ERR_SERVICE_REPORTED_CANCELLATION = "ServiceReportedCancellation"
ERR_SERVICE_REJECTED_REQUEST = "ServiceRejectedRequest"
ERR_SERVICE_UNAVAILABLE = "ServiceUnavailable"
ERR_INVALID_INPUT = "InvalidInput"  # a run input the workflow refuses before any stage (demo and pipelines)
ERR_INVALID_CALLBACK_TARGET = "InvalidCallbackTarget"  # no valid callback URL can be made (e.g. ID too long)
# Update validator rejections (update mode): the callback server maps each to its HTTP answer.
ERR_DUPLICATE_CALLBACK = "DuplicateCallback"
ERR_STALE_STAGE = "StaleStage"
ERR_UNKNOWN_STAGE = "UnknownStage"
ERR_INVALID_CALLBACK = "InvalidCallback"

StageKey = int | str


class Mode(StrEnum):
    """How a stage waits for its callback."""

    SIGNAL = "signal"
    TOKEN = "token"  # noqa: S105  # a mode name, not a secret
    UPDATE = "update"


class CallbackStatus(StrEnum):
    """What a callback says about the stage's work."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PROGRESS = "progress"


class Outcome(StrEnum):
    """How a stage ended (or that it has not yet)."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class AdvancedBy(StrEnum):
    """What resolved a stage."""

    SIGNAL = "signal"  # the callback server's advance_stage signal
    UPDATE = "update"  # the callback server's advance_stage update
    ACTIVITY = "activity"  # token mode: the callback completed (or failed) the activity
    MANUAL = "manual"  # a hand-made advance_stage (no callback ID), e.g. `temporal workflow signal`
    RECONCILE = "reconcile"  # no callback came in time; the service's own record said it finished
    TIMEOUT = "timeout"  # nothing came: the gate's deadline passed
    REQUEST = "request"  # the request activity itself failed (the service refused or was unreachable)


class WaitingFor(StrEnum):
    """What a gate is waiting for right now."""

    NOTHING = "nothing"
    REQUEST = "request"  # the stage activity: the service to accept the work
    CALLBACK = "callback"  # the gate: an advance_stage signal or update
    ACTIVITY_COMPLETION = "activity_completion"  # token mode: async completion of the stage activity
    RECONCILE = "reconcile"  # asking the service before timing out
    FETCH = "fetch"  # notify, then fetch: GETting the result after the callback said "done"


class Verdict(StrEnum):
    """What the gate made of one advance_stage message."""

    ACCEPTED = "accepted"  # for the stage the run waits at (or one it has not reached: kept until then)
    PROGRESS = "progress"  # a progress report, counted
    DUPLICATE = "duplicate"  # same callback ID again, or the stage already has its callback
    STALE = "stale"  # the stage has already ended
    UNKNOWN = "unknown"  # not a stage of this run
    INVALID = "invalid"  # not understood


@dataclass(frozen=True)
class StageCallback:
    """A callback for one stage, as the gate records it. `{"stage": 1}` alone means "stage 1 completed"."""

    stage: StageKey
    status: CallbackStatus = CallbackStatus.COMPLETED
    result: dict[str, Any] | None = None
    error: str | None = None
    callback_id: str | None = None
    progress: int | None = None
    received_at: str | None = None


@dataclass(frozen=True)
class InboxEntry:
    """A recorded callback not yet consumed by its stage, and how it arrived."""

    callback: StageCallback
    via: AdvancedBy


@dataclass(frozen=True)
class Rejection:
    """An advance_stage message the gate did not take, kept (the last few) for the status query."""

    verdict: Verdict
    reason: str
    received: str  # the message as text, cut short
    at: str


@dataclass
class StageRecord:
    """What happened in one stage; the same shape in every mode. Returned by `call_and_wait`."""

    stage: StageKey
    mode: Mode = Mode.SIGNAL
    outcome: Outcome = Outcome.PENDING
    requested_at: str | None = None
    accepted_at: str | None = None
    callback_at: str | None = None
    advanced_at: str | None = None
    attempts: int = 0
    progress: int = 0
    duplicates_ignored: int = 0
    advanced_by: AdvancedBy | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    # Signal/update mode: what the stage activity returned (e.g. the service's job ID).
    request_result: Any = None
    # Token mode: requests made again because a hand-off check found nothing at the service (a worker died).
    requests_repeated: int = 0
    # Fixed endpoint: the source and correlation key the stage waits (waited) on.
    hook_source: str | None = None
    hook_key: str | None = None

    @property
    def ok(self) -> bool:
        """True when the stage completed."""
        return self.outcome is Outcome.COMPLETED


@dataclass
class GateState:
    """ALL of a workflow's gate state: continue-as-new carries it whole (see `StageGate.carry`)."""

    records: list[StageRecord] = field(default_factory=list)
    inbox: list[InboxEntry] = field(default_factory=list)
    # callback_id -> stage ID (`stage_id(key)`): repeats of a callback are ignored even after its stage moved on.
    seen_callback_ids: dict[str, str] = field(default_factory=dict)
    # Progress reports per stage ID, for stages still open (or not reached yet).
    progress: dict[str, int] = field(default_factory=dict)
    # When set, the only stage keys this run has; anything else is "unknown".
    declared_stages: list[StageKey] | None = None
    current: StageKey | None = None
    waiting_for: WaitingFor = WaitingFor.NOTHING
    duplicates_ignored: int = 0
    rejected: int = 0
    last_rejections: list[Rejection] = field(default_factory=list)
    started_at: str | None = None
    runs: int = 1


@dataclass(frozen=True)
class GateStatus:
    """Answer of the `gate_status` query: where the gate is and what it has seen."""

    current_stage: StageKey | None
    waiting_for: WaitingFor
    stages: list[StageRecord]
    early_callbacks: list[StageKey]
    duplicates_ignored: int
    rejected: int
    last_rejections: list[Rejection]
    runs: int
    # What the open stage waits on (`METHOD host`), since when it waits for it, and its deadline (ISO).
    waiting_on: str | None = None
    waiting_since: str | None = None
    deadline: str | None = None


@dataclass(frozen=True)
class AdvanceAnswer:
    """Result of the advance_stage update: the gate took the callback (for now or for later)."""

    verdict: Verdict
    stage: StageKey
    current_stage: StageKey | None
    early: bool = False


# `call_and_wait(..., source=..., key=OWN_STAGE_ID)`: the stage's own ID is its key: its idempotency key
# (`current_stage().idempotency_key`, `${idempotency_key}` in a pipeline), for vendors that echo a reference the
# request carried (Stripe's `metadata`). The gate puts the ID in its place before the stage starts.
OWN_STAGE_ID = "${idempotency_key}"


@dataclass(frozen=True)
class StageAccepted:
    """Signal/update mode: what a stage activity's result is wrapped in (the user's value is `result`)."""

    attempt: int
    accepted_at: str
    job_id: str | None = None
    result: Any = None
    # What the activity said it called (`report_service`): `METHOD host`, for operators; never a URL.
    service: str | None = None
    # Fixed endpoint: the key the stage registered to wait on.
    hook_key: str | None = None


@dataclass(frozen=True)
class StageCompletion:
    """Token mode: the value the callback server completes a stage activity with."""

    attempt: int
    callback_at: str
    callback_id: str | None = None
    progress: int = 0
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class StageCheck:
    """Result of a reconcile activity: what the service says about a stage whose callback never came."""

    job_found: bool = False
    callback: StageCallback | None = None
