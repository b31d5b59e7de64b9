"""The demo's own Temporal payloads: `StagedCallbackWorkflow`'s input, result, status and its request type.

The service mock's knobs (action, timings, faults) live here and nowhere in the gate layer. Add fields with
defaults at the end; never reorder or remove (running workflows and recorded histories carry the old shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.gate.types import GateState, Mode, Rejection, StageKey, StageRecord, WaitingFor

WORKFLOW_NAME = "StagedCallbackWorkflow"
QUERY_STATUS = "status"
ACTIVITY_REQUEST_STAGE = "request_stage"
ACTIVITY_AWAIT_STAGE_CALLBACK = "await_stage_callback"
ACTIVITY_CHECK_STAGE = "check_stage"


class Action(StrEnum):
    """What the external service does at callback time (a demo knob sent with the request)."""

    COMPLETE = "complete"
    FAIL = "fail"
    HEARTBEAT = "heartbeat"
    REPORT_CANCELLATION = "report_cancellation"
    IGNORE = "ignore"


@dataclass(frozen=True)
class ServiceFaults:
    """Fault injection: the first three are passed through to the service mock, the rest act in the worker."""

    duplicate_deliveries: int = 0
    extra_delay_seconds: float = 0.0
    lose_callbacks: bool = False
    # The stage activity waits this long before its request (heartbeating): a window to kill the worker in.
    pause_before_request_seconds: float = 0.0
    # The stage activity makes its request, then drops the service's answer and fails retryably, every attempt.
    lose_request_answers: bool = False
    # The same on the first attempt only: the service holds the first attempt's callback URL, a retry follows.
    lose_first_request_answer: bool = False


@dataclass(frozen=True)
class CarriedState:
    """Continue-as-new state of runs started before the gate layer (v1/v2 histories); new runs carry `gate`."""

    next_stage: int
    records: list[dict[str, Any]] = field(default_factory=list)
    seen_callback_ids: list[str] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    early_progress: dict[str, int] = field(default_factory=dict)
    duplicates_ignored: int = 0
    started_at: str | None = None
    runs: int = 1


@dataclass(frozen=True)
class StagedRunInput:
    """Input of one demo run. `actions` holds one action for all stages or one per stage; so does `stage_modes`."""

    mode: Mode = Mode.SIGNAL
    stages: int = 3
    actions: list[Action] = field(default_factory=lambda: [Action.COMPLETE])
    time_to_request: float = 0.5
    time_to_callback: float = 1.0
    stage_timeout_seconds: float = 300.0
    faults: ServiceFaults = field(default_factory=ServiceFaults)
    continue_as_new_after_stages: int = 0
    carried: CarriedState | None = None
    # Per-stage mode override: empty means every stage runs in `mode`.
    stage_modes: list[Mode] = field(default_factory=list)
    # The gate's whole state, carried by continue-as-new.
    gate: GateState | None = None

    def action_for(self, stage: int) -> Action:
        """The action for a 1-based stage number."""
        if len(self.actions) == 1:
            return self.actions[0]
        return self.actions[stage - 1]

    def mode_for(self, stage: int) -> Mode:
        """The mode of a 1-based stage number."""
        if not self.stage_modes:
            return self.mode
        if len(self.stage_modes) == 1:
            return self.stage_modes[0]
        return self.stage_modes[stage - 1]


@dataclass(frozen=True)
class StageRequest:
    """Input of the demo's stage activities: what to ask the service mock to do for one stage."""

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
class RunStatus:
    """Answer of the demo's `status` query."""

    mode: Mode
    stages_total: int
    current_stage: StageKey | None
    waiting_for: WaitingFor
    stages: list[StageRecord]
    early_callbacks: list[StageKey]
    duplicates_ignored: int
    runs: int
    rejected: int = 0
    last_rejections: list[Rejection] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    """Result of a demo run; failing runs carry the same shape in their error details."""

    mode: Mode
    stages_total: int
    stages: list[StageRecord]
    started_at: str
    finished_at: str
    duplicates_ignored: int = 0
    runs: int = 1
    rejected: int = 0
    actions: list[Action] = field(default_factory=list)
