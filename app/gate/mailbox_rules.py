"""The mailbox's rules as plain functions over `MailboxState`: dedupe, keep early, expire, settle. No Temporal here.

`app/gate/mailbox.py` calls these from its handlers and its loop; tests call them directly, in milliseconds.
Times are epoch seconds passed in (the workflow's own clock), never read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.errors import BadCallbackError
from app.gate import shapes
from app.gate.hook_types import (
    WAITER_GRACE_SECONDS,
    DeliveryLog,
    DeliveryResult,
    HookDelivery,
    HookEventIn,
    HookWaiter,
    MailboxAnswer,
    MailboxState,
    MailboxStatus,
    PendingEvent,
    RegisterAnswer,
)
from app.gate.rules import stage_id
from app.gate.types import CallbackStatus

KEEP_LOG = 20
# Event IDs remembered across continue-as-new (the newest); a repeat older than these finds a fresh mailbox.
KEEP_SEEN = 1000
FINAL = frozenset({CallbackStatus.COMPLETED, CallbackStatus.FAILED, CallbackStatus.CANCELLED})
# A mailbox nobody has written to (a start whose first message failed) ends after this long.
IDLE_START_SECONDS = 60.0


def waiter_active(state: MailboxState, now: float) -> bool:
    """Someone waits, and their stage's time (plus the reconcile grace) has not run out."""
    waiter = state.waiter
    return waiter is not None and now < waiter.deadline_epoch + WAITER_GRACE_SECONDS


def receive(state: MailboxState, event: HookEventIn, now: float) -> MailboxAnswer | None:
    """Take an event in: the answer at once (duplicate, kept), or None when it is queued for the waiter."""
    seen = state.seen.get(event.event_id)
    if seen is not None:
        return MailboxAnswer("duplicate", detail=f"event {event.event_id!r} was already received ({seen})")
    if not waiter_active(state, now):
        state.seen[event.event_id] = "kept"
        state.pending.append(PendingEvent(event=event, expires_epoch=now + event.ttl_seconds))
        return MailboxAnswer(
            "kept", detail=f"no stage waits on this key yet; kept for {event.ttl_seconds:g}s for the stage to come"
        )
    state.seen[event.event_id] = "queued"
    state.queue.append(event)
    return None


def registration_problem(state: MailboxState, waiter: HookWaiter, now: float) -> str | None:
    """Why this waiter may not register (another stage waits on the key), or None."""
    current = state.waiter
    if current is None or not waiter_active(state, now) or state.settled_at_epoch is not None:
        return None
    if (current.workflow_id, stage_id(current.stage)) == (waiter.workflow_id, stage_id(waiter.stage)):
        return None  # the same stage again: a retried request, a new attempt
    return (
        f"stage {current.stage!r} of workflow {current.workflow_id!r} already waits on this key; "
        "a key correlates to one waiting stage at a time"
    )


def register(state: MailboxState, waiter: HookWaiter, now: float) -> RegisterAnswer:
    """Set the waiter; events kept before it came are now queued for it (in arrival order)."""
    replaced = state.waiter is not None
    if state.waiter is not None and state.settled_at_epoch is not None:
        state.settled_at_epoch = None  # a new stage waits on the key: not settled for it
    state.waiter = waiter
    early = [p.event for p in state.pending if p.expires_epoch > now]
    state.dropped += len(state.pending) - len(early)
    state.pending.clear()
    for event in early:
        state.seen[event.event_id] = "queued"
    state.queue.extend(early)
    return RegisterAnswer(early_events=len(early), replaced=replaced)


def expire(state: MailboxState, now: float) -> int:
    """Drop early events whose TTL ran out; how many were dropped."""
    keep = [p for p in state.pending if p.expires_epoch > now]
    dropped = len(state.pending) - len(keep)
    for gone in (p for p in state.pending if p.expires_epoch <= now):
        state.seen[gone.event.event_id] = "dropped (TTL)"
        _log(state, DeliveryLog(gone.event.event_id, "dropped"))
    state.pending = keep
    state.dropped += dropped
    return dropped


def finished(state: MailboxState, now: float) -> bool:
    """Nothing left to keep or deliver, and no stage still waits (or its final outcome has settled)."""
    if state.pending or state.queue:
        return False
    if not waiter_active(state, now):
        return True
    return state.settled_at_epoch is not None and now >= state.settled_at_epoch + state.settle_seconds


def next_wakeup(state: MailboxState, now: float) -> float:
    """Seconds until something may change without a message: an event's TTL, the waiter's end, the settling."""
    moments = [p.expires_epoch for p in state.pending]
    if state.waiter is not None and waiter_active(state, now):
        moments.append(state.waiter.deadline_epoch + WAITER_GRACE_SECONDS)
    if state.settled_at_epoch is not None:
        moments.append(state.settled_at_epoch + state.settle_seconds)
    if not moments:
        return IDLE_START_SECONDS
    return max(min(moments) - now, 0.001)


def reading(event: HookEventIn, waiter: HookWaiter) -> HookDelivery | MailboxAnswer:
    """The event as a stage callback for this waiter (its shape reads it), or why it goes nowhere."""
    shape = waiter.shape
    try:
        if shape is None:
            status, result, error, progress = _own_body(event.event)
        else:
            read = shapes.read(shape, event.event, {})
            if read.meaning is shapes.Meaning.IGNORE:
                return MailboxAnswer("ignored", detail=f"the stage's shape ignores {read.value!r}")
            status, result, error, progress = CallbackStatus(read.meaning.value), read.result, read.error, 0
    except BadCallbackError as err:  # UnmappedOutcomeError included: answered, logged, never forwarded
        return MailboxAnswer("refused", detail=err.message)
    return HookDelivery(
        waiter=waiter,
        status=status,
        callback_id=event.event_id,
        received_at=event.received_at,
        result=result,
        error=error,
        progress=progress,
    )


def _own_body(event: Mapping[str, Any]) -> tuple[CallbackStatus, dict[str, Any] | None, str | None, int]:
    """No shape: the event is read as stagegate's own body (`status`, `result`, `error`, `progress`)."""
    raw_status = event.get("status") or CallbackStatus.COMPLETED.value
    try:
        status = CallbackStatus(raw_status)
    except ValueError:
        allowed = ", ".join(s.value for s in CallbackStatus)
        raise BadCallbackError(
            f"status is {shapes.as_text(raw_status)[:40]!r}, not one of {allowed} (give the stage a callback shape)",
            code="invalid_body",
        ) from None
    result = event.get("result")
    error = event.get("error")
    progress = event.get("progress")
    return (
        status,
        result if isinstance(result, dict) else None,
        error[: shapes.MAX_ERROR_CHARS] if isinstance(error, str) else None,
        progress if isinstance(progress, int) and not isinstance(progress, bool) and progress >= 0 else 0,
    )


def delivered(
    state: MailboxState, event: HookEventIn, delivery: HookDelivery, result: DeliveryResult, now: float, at: str
) -> None:
    """Record a delivery's result; a final outcome that reached its stage settles the mailbox."""
    state.seen[event.event_id] = f"delivered ({result.verdict})"
    _log(state, DeliveryLog(event.event_id, "delivered", result.verdict, at))
    # Any definitive answer to a final outcome (taken, or refused as stale/duplicate/closed) ends the wait.
    if delivery.status in FINAL and state.settled_at_epoch is None:
        state.settled_at_epoch = now


def not_delivered(state: MailboxState, event: HookEventIn, answer: MailboxAnswer, at: str) -> None:
    """Record an event that went nowhere (ignored by the shape, refused, or undeliverable)."""
    state.seen[event.event_id] = answer.outcome
    _log(state, DeliveryLog(event.event_id, answer.outcome, answer.verdict, at))


def fate(state: MailboxState, event_id: str) -> DeliveryLog | None:
    """The logged fate of an event, once it has one."""
    for entry in reversed(state.log):
        if entry.event_id == event_id:
            return entry
    return None


def _log(state: MailboxState, entry: DeliveryLog) -> None:
    state.log.append(entry)
    del state.log[:-KEEP_LOG]


def status_of(state: MailboxState) -> MailboxStatus:
    """The `mailbox_status` query's answer."""
    return MailboxStatus(
        source=state.source,
        key=state.key,
        waiter=state.waiter,
        pending_events=[p.event.event_id for p in state.pending],
        queued_events=[e.event_id for e in state.queue],
        log=list(state.log),
        dropped=state.dropped,
        runs=state.runs,
    )


def carry(state: MailboxState) -> MailboxState:
    """The state for the next run: everything, the remembered event IDs cut to the newest KEEP_SEEN."""
    seen = dict(list(state.seen.items())[-KEEP_SEEN:])
    return replace(
        state,
        pending=list(state.pending),
        queue=list(state.queue),
        seen=seen,
        log=list(state.log),
        runs=state.runs + 1,
    )
