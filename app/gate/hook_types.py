"""Values of fixed-endpoint correlation that cross Temporal boundaries: what a stage waits on, the mailbox's state.

A stage that waits on a source and a key (`call_and_wait(..., source="esign", key=...)`) and the verified
events of `POST /hooks/{source}` meet in one mailbox workflow per (source, key), `mailbox_id(source, key)`,
reached from both sides by update-with-start (`app/gate/mailbox.py`). Standard library only (plus the gate's
own sandbox-safe types): safe inside the workflow sandbox.

Add fields with defaults at the end; never reorder or remove.
"""

# No `from __future__ import annotations`: these dataclasses cross Temporal boundaries (see app/gate/types.py).
from dataclasses import dataclass, field
from typing import Any

from app.gate.shapes import CallbackShape
from app.gate.types import CallbackStatus, Mode, StageKey

MAILBOX_WORKFLOW_NAME = "StagegateHookMailbox"
UPDATE_MAILBOX_DELIVER = "deliver_event"
SIGNAL_MAILBOX_DELIVER = "deliver_event_signal"
UPDATE_MAILBOX_REGISTER = "register_waiter"
QUERY_MAILBOX_STATUS = "mailbox_status"
ACTIVITY_DELIVER_HOOK_EVENT = "stagegate_deliver_hook_event"
# The token-mode hand-off check of a stage that waits on a source (app/gate/hook_handoff.py).
ACTIVITY_HOOK_HANDOFF_CHECK = "stagegate_hook_handoff_check"
# `kind` of the heartbeat a token-mode stage activity records once its mailbox registration has landed.
HOOK_REGISTERED_KIND = "stagegate-hook-registered"
MAILBOX_ID_PREFIX = "stagegate-hook:"
# ApplicationError type of a registration the mailbox refuses (another stage already waits on the key).
ERR_KEY_TAKEN = "HookKeyTaken"

DEFAULT_EVENT_TTL_SECONDS = 24 * 3600.0
# After a final outcome reached its stage, the mailbox stays this long to answer repeats as duplicates.
DEFAULT_SETTLE_SECONDS = 60.0
# A waiter whose stage deadline passed is kept this long more (the stage reconciles before it times out).
WAITER_GRACE_SECONDS = 60.0
# Correlation keys and event IDs become workflow IDs and dedupe keys: bounded like a callback ID.
MAX_KEY_CHARS = 255


def mailbox_id(source: str, key: str) -> str:
    """The mailbox workflow's ID for a source and a correlation key (the same text on both sides)."""
    return f"{MAILBOX_ID_PREFIX}{source}:{key}"


@dataclass(frozen=True)
class HookWaiter:
    """Who waits on a mailbox's key: a stage of a run, in its mode (registered by the stage activity)."""

    workflow_id: str
    run_id: str
    stage: StageKey
    mode: Mode
    attempt: int
    deadline_epoch: float
    # Token mode: the open stage activity, completed by ID (no task token is kept in the mailbox's history).
    activity_id: str | None = None
    # How the vendor's event reads (None: stagegate's own body: status, result, error, progress).
    shape: CallbackShape | None = None
    registered_at: str = ""


@dataclass(frozen=True)
class HookEventIn:
    """A verified event, as the endpoint hands it to the mailbox."""

    source: str
    key: str
    # The dedupe key: the source's event ID, else the digest of the event's bytes.
    event_id: str
    event: dict[str, Any]
    received_at: str
    ttl_seconds: float = DEFAULT_EVENT_TTL_SECONDS
    # How long the endpoint may wait for an update-mode stage's verdict (a vendor wants its answer in seconds).
    answer_within_seconds: float = 1.5


@dataclass(frozen=True)
class MailboxAnswer:
    """What the mailbox made of an event (the endpoint's 2xx answer says it)."""

    # kept (nobody waits yet) | delivering | delivered | duplicate | ignored | refused
    outcome: str
    mode: Mode | None = None
    # The stage's verdict when it is known in time (update mode: accepted, duplicate, stale, ...).
    verdict: str | None = None
    detail: str = ""
    workflow_id: str | None = None
    stage: StageKey | None = None


@dataclass(frozen=True)
class RegisterAnswer:
    """What a registration found: how many early events it will now deliver."""

    early_events: int = 0
    replaced: bool = False


@dataclass(frozen=True)
class HookDelivery:
    """Input of the delivery activity: one stage callback for one waiter, in the waiter's mode."""

    waiter: HookWaiter
    status: CallbackStatus
    callback_id: str
    received_at: str
    result: dict[str, Any] | None = None
    error: str | None = None
    progress: int = 0


@dataclass(frozen=True)
class DeliveryResult:
    """How the delivery went: the Temporal call made, and the stage's verdict or the refusal's code."""

    temporal_call: str
    verdict: str
    status_code: int = 202


@dataclass(frozen=True)
class PendingEvent:
    """An event kept in the mailbox until a stage waits on its key, or its TTL runs out."""

    event: HookEventIn
    expires_epoch: float


@dataclass(frozen=True)
class DeliveryLog:
    """One event's fate, kept (the last few) for the mailbox's status query."""

    event_id: str
    outcome: str
    verdict: str | None = None
    at: str = ""


@dataclass
class MailboxState:
    """ALL of a mailbox's state: continue-as-new carries it whole."""

    source: str
    key: str
    waiter: HookWaiter | None = None
    # Early events (nobody waited yet): delivered on registration, dropped after their TTL.
    pending: list[PendingEvent] = field(default_factory=list)
    # Events to hand to the waiter, in arrival order.
    queue: list[HookEventIn] = field(default_factory=list)
    # event ID -> what happened to it; a repeat never advances twice.
    seen: dict[str, str] = field(default_factory=dict)
    log: list[DeliveryLog] = field(default_factory=list)
    # Set when a final outcome (completed, failed, cancelled) reached the waiter: the mailbox settles, then ends.
    settled_at_epoch: float | None = None
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    dropped: int = 0
    runs: int = 1


@dataclass(frozen=True)
class MailboxInput:
    """Input of a mailbox run (continue-as-new: with the carried state)."""

    source: str
    key: str
    state: MailboxState | None = None


@dataclass(frozen=True)
class MailboxStatus:
    """Answer of the `mailbox_status` query: who waits, what is kept, what happened."""

    source: str
    key: str
    waiter: HookWaiter | None
    pending_events: list[str]
    queued_events: list[str]
    log: list[DeliveryLog]
    dropped: int
    runs: int


@dataclass(frozen=True)
class HookRegistered:
    """The heartbeat details a token-mode stage activity records right after its mailbox registration landed.

    Read back by the hook hand-off check (`app/gate/hook_handoff.py`) from the pending activity: present for the
    activity's current attempt means the stage's hand-off is complete (request made, stage registered).
    """

    source: str
    key: str
    stage: str  # the stage's ID (`rules.stage_id`)
    attempt: int
    kind: str = HOOK_REGISTERED_KIND


@dataclass(frozen=True)
class HookHandoffCheck:
    """Input of the hook hand-off check: which stage activity of which run to look at."""

    workflow_id: str
    run_id: str
    activity_id: str
    stage: str  # the stage's ID (`rules.stage_id`)
