"""Dataclasses that cross Temporal boundaries: workflow input/result, the signal, the query, activity I/O.

Add fields with defaults at the end; never reorder or remove (running workflows and recorded
histories carry the old shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

WORKFLOW_NAME = "StagedCallbackWorkflow"
SIGNAL_ADVANCE_STAGE = "advance_stage"
QUERY_STATUS = "status"
ACTIVITY_REQUEST_STAGE = "request_stage"
ACTIVITY_AWAIT_STAGE_CALLBACK = "await_stage_callback"
ACTIVITY_CHECK_STAGE = "check_stage"

# ApplicationError types: callers match on these, so they are part of the contract.
ERR_STAGE_FAILED = "StageFailed"
ERR_STAGE_CANCELLED = "StageCancelled"
ERR_STAGE_TIMED_OUT = "StageTimedOut"
ERR_SERVICE_REPORTED_FAILURE = "ServiceReportedFailure"
ERR_SERVICE_REPORTED_CANCELLATION = "ServiceReportedCancellation"
ERR_SERVICE_REJECTED_REQUEST = "ServiceRejectedRequest"
ERR_SERVICE_UNAVAILABLE = "ServiceUnavailable"


class Mode(StrEnum):
    """How a stage waits for its callback."""

    SIGNAL = "signal"
    TOKEN = "token"  # noqa: S105  # a mode name, not a secret


class Action(StrEnum):
    """What the external service does at callback time (a test/demo knob sent with the request)."""

    COMPLETE = "complete"
    FAIL = "fail"
    HEARTBEAT = "heartbeat"
    REPORT_CANCELLATION = "report_cancellation"
    IGNORE = "ignore"


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


@dataclass(frozen=True)
class ServiceFaults:
    """Fault injection passed through to the service mock."""

    duplicate_deliveries: int = 0
    extra_delay_seconds: float = 0.0
    lose_callbacks: bool = False


@dataclass(frozen=True)
class StageCallback:
    """Payload of the `advance_stage` signal. `{"stage": 1}` alone means "stage 1 completed"."""

    stage: int
    status: CallbackStatus = CallbackStatus.COMPLETED
    result: dict[str, Any] | None = None
    error: str | None = None
    callback_id: str | None = None
    progress: int | None = None
    received_at: str | None = None


@dataclass
class StageRecord:
    """What happened in one stage; the same shape in both modes."""

    stage: int
    action: Action
    outcome: Outcome = Outcome.PENDING
    requested_at: str | None = None
    accepted_at: str | None = None
    callback_at: str | None = None
    advanced_at: str | None = None
    attempts: int = 0
    progress: int = 0
    duplicates_ignored: int = 0
    advanced_by: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class CarriedState:
    """State handed to the next run on continue-as-new."""

    next_stage: int
    records: list[StageRecord] = field(default_factory=list)
    seen_callback_ids: list[str] = field(default_factory=list)
    inbox: list[StageCallback] = field(default_factory=list)
    early_progress: dict[str, int] = field(default_factory=dict)
    duplicates_ignored: int = 0
    started_at: str | None = None
    runs: int = 1


@dataclass(frozen=True)
class StagedRunInput:
    """Input of one staged run. `actions` holds one action for all stages or one per stage."""

    mode: Mode = Mode.SIGNAL
    stages: int = 3
    actions: list[Action] = field(default_factory=lambda: [Action.COMPLETE])
    time_to_request: float = 0.5
    time_to_callback: float = 1.0
    stage_timeout_seconds: float = 300.0
    faults: ServiceFaults = field(default_factory=ServiceFaults)
    continue_as_new_after_stages: int = 0
    carried: CarriedState | None = None

    def action_for(self, stage: int) -> Action:
        """The action for a 1-based stage number."""
        if len(self.actions) == 1:
            return self.actions[0]
        return self.actions[stage - 1]


@dataclass(frozen=True)
class RunStatus:
    """Answer of the `status` query."""

    mode: Mode
    stages_total: int
    current_stage: int
    waiting_for: str
    stages: list[StageRecord]
    early_callbacks: list[int]
    duplicates_ignored: int
    runs: int


@dataclass(frozen=True)
class RunResult:
    """Result of a staged run; failing runs carry the same shape in their error details."""

    mode: Mode
    stages_total: int
    stages: list[StageRecord]
    started_at: str
    finished_at: str
    duplicates_ignored: int = 0
    runs: int = 1


@dataclass(frozen=True)
class StageRequest:
    """Input of both stage activities: ask the external service to do a stage's work."""

    mode: Mode
    workflow_id: str
    stage: int
    action: Action
    time_to_request: float
    time_to_callback: float
    idempotency_key: str
    callback_deadline_epoch: float
    faults: ServiceFaults = field(default_factory=ServiceFaults)


@dataclass(frozen=True)
class StageRequestAccepted:
    """Result of `request_stage`: the service took the work and will call back."""

    attempt: int
    accepted_at: str
    job_id: str | None = None


@dataclass(frozen=True)
class StageCheck:
    """Result of `check_stage`: what the service says about a stage whose callback never came."""

    job_found: bool
    callback: StageCallback | None = None


@dataclass(frozen=True)
class StageCompletion:
    """Value the callback server completes a token-mode activity with."""

    attempt: int
    callback_at: str
    callback_id: str | None = None
    progress: int = 0
    result: dict[str, Any] | None = None
