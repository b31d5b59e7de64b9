"""The gate's rules as plain functions over `GateState`: parse, dedupe, keep early, refuse stale. No Temporal here.

The workflow-side gate (`app.gate.stage_gate`) calls these from its handlers; tests call them directly, in milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from app.errors import InvalidCallbackError
from app.gate.types import (
    AdvancedBy,
    CallbackStatus,
    GateState,
    GateStatus,
    InboxEntry,
    Mode,
    Outcome,
    Rejection,
    StageCallback,
    StageKey,
    StageRecord,
    Verdict,
)

# A stage name: starts with a letter or underscore, so "1" can only ever mean stage number 1.
STAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
MAX_STAGE_NUMBER = 1_000_000
KEEP_REJECTIONS = 10
_RECEIVED_CHARS = 200
_CALLBACK_FIELDS = {f.name for f in fields(StageCallback)}


def stage_id(key: StageKey) -> str:
    """The text form of a stage key (JSON object keys, URLs, idempotency keys). Unique: names never look numeric."""
    return str(key)


def parse_stage_key(value: Any) -> StageKey:
    """A stage key from what a person or a URL gave: a positive integer, its decimal text, or a stage name."""
    if isinstance(value, bool):
        raise InvalidCallbackError(f"stage must be a positive integer or a name, got {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= MAX_STAGE_NUMBER:
            raise InvalidCallbackError(f"stage number must be between 1 and {MAX_STAGE_NUMBER}, got {value}")
        return value
    if isinstance(value, float) and value.is_integer():
        return parse_stage_key(int(value))
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and not value.startswith("0"):
            # Too long to be a stage number: refused before int(), which raises a plain ValueError past
            # 4300 digits (that would escape `except InvalidCallbackError` and fail the workflow task).
            if len(value) > len(str(MAX_STAGE_NUMBER)):
                raise InvalidCallbackError(
                    f"stage number must be between 1 and {MAX_STAGE_NUMBER}, got a {len(value)}-digit number"
                )
            return parse_stage_key(int(value))
        if STAGE_NAME.fullmatch(value):
            return value
        raise InvalidCallbackError(
            f"stage {value[:40]!r} is neither a number nor a name (letters, digits, '_', '.', '-'; "
            "starting with a letter or '_'; at most 64 characters)"
        )
    raise InvalidCallbackError(f"stage must be a positive integer or a name, got {type(value).__name__}")


def _optional(raw: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind is int:
        raise InvalidCallbackError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, kind):
        raise InvalidCallbackError(f"{name} has the wrong type: {type(value).__name__}")
    return value


def parse_advance(raw: Any, *, received_at: str) -> StageCallback:
    """Understand an advance_stage payload in any of its forms, or raise InvalidCallbackError.

    Forms: a bare stage (`1`, `"kyc"`, the community thread's `advance_stage(stage: int)`), or an object with
    `stage` and optionally `status`, `result`, `error`, `callback_id`, `progress`, `received_at`.
    """
    if not isinstance(raw, Mapping):
        if raw is None:
            raise InvalidCallbackError('no stage given: send {"stage": <number or name>} or a bare stage number')
        return StageCallback(stage=parse_stage_key(raw), received_at=received_at)
    unknown = sorted(str(k) for k in raw if k not in _CALLBACK_FIELDS)
    if unknown:
        raise InvalidCallbackError(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_CALLBACK_FIELDS))}"
        )
    if "stage" not in raw:
        raise InvalidCallbackError("field 'stage' is missing")
    status_raw = raw.get("status") or CallbackStatus.COMPLETED.value
    try:
        status = CallbackStatus(status_raw)
    except ValueError:
        allowed = ", ".join(s.value for s in CallbackStatus)
        raise InvalidCallbackError(f"status must be one of {allowed}, got {str(status_raw)[:40]!r}") from None
    progress = _optional(raw, "progress", int)
    if progress is not None and progress < 0:
        raise InvalidCallbackError("progress must not be negative")
    return StageCallback(
        stage=parse_stage_key(raw["stage"]),
        status=status,
        result=_optional(raw, "result", dict),
        error=_optional(raw, "error", str),
        # An empty ID is no ID: it must not make every later callback of the run a "duplicate".
        callback_id=_optional(raw, "callback_id", str) or None,
        progress=progress,
        received_at=_optional(raw, "received_at", str) or received_at,
    )


def describe_raw(raw: Any) -> str:
    """A short text form of a message for the rejection log."""
    try:
        text = json.dumps(raw, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(raw)
    return text[:_RECEIVED_CHARS]


# --- reading the state ------------------------------------------------------------------------------


def record_for(state: GateState, key: StageKey) -> StageRecord | None:
    """The record of a stage the run has reached, if any."""
    for record in state.records:
        if record.stage == key:
            return record
    return None


def is_resolved(state: GateState, key: StageKey) -> bool:
    """Whether the stage has already ended (any outcome)."""
    record = record_for(state, key)
    return record is not None and record.outcome is not Outcome.PENDING


def inbox_entry(state: GateState, key: StageKey) -> InboxEntry | None:
    """The recorded callback waiting for a stage, if any."""
    for entry in state.inbox:
        if entry.callback.stage == key:
            return entry
    return None


def classify(state: GateState, callback: StageCallback) -> tuple[Verdict, str]:
    """What the gate would make of a parsed callback, without changing anything (the update validator's view)."""
    key = callback.stage
    if callback.callback_id is not None and callback.callback_id in state.seen_callback_ids:
        return Verdict.DUPLICATE, f"callback_id {callback.callback_id!r} was already received"
    if state.declared_stages is not None and key not in state.declared_stages:
        return Verdict.UNKNOWN, f"this run has no stage {key!r}"
    if is_resolved(state, key) or _behind(state, key):
        return Verdict.STALE, f"stage {key!r} has already ended"
    if callback.status is CallbackStatus.PROGRESS:
        return Verdict.PROGRESS, f"progress for stage {key!r}"
    if inbox_entry(state, key) is not None:
        return Verdict.DUPLICATE, f"stage {key!r} already has its callback"
    return Verdict.ACCEPTED, f"stage {key!r}" + (" (kept until the run gets there)" if key != state.current else "")


def _behind(state: GateState, key: StageKey) -> bool:
    # Numbered stages only move forward: a number below the current one is over, even without a record.
    return isinstance(key, int) and isinstance(state.current, int) and key < state.current


def status_of(state: GateState) -> GateStatus:
    """The `gate_status` query's answer."""
    return GateStatus(
        current_stage=state.current,
        waiting_for=state.waiting_for,
        stages=records_with_progress(state),
        early_callbacks=[e.callback.stage for e in state.inbox if e.callback.stage != state.current],
        duplicates_ignored=state.duplicates_ignored,
        rejected=state.rejected,
        last_rejections=list(state.last_rejections),
        runs=state.runs,
    )


def records_with_progress(state: GateState) -> list[StageRecord]:
    """Copies of the records; open stages show the progress reported so far."""
    out: list[StageRecord] = []
    for record in state.records:
        if record.outcome is Outcome.PENDING:
            out.append(replace(record, progress=max(record.progress, state.progress.get(stage_id(record.stage), 0))))
        else:
            out.append(replace(record))
    return out


# --- changing the state -----------------------------------------------------------------------------


def admit(state: GateState, callback: StageCallback, via: AdvancedBy) -> Verdict:
    """Record a parsed callback: keep it for its stage, count progress, or count it as ignored. Idempotent."""
    verdict, _ = classify(state, callback)
    key = callback.stage
    if verdict in (Verdict.DUPLICATE, Verdict.STALE):
        state.duplicates_ignored += 1
        record = record_for(state, key)
        if record is not None:
            record.duplicates_ignored += 1
        return verdict
    if verdict is Verdict.UNKNOWN:
        return verdict
    if callback.callback_id is not None:
        state.seen_callback_ids[callback.callback_id] = stage_id(key)
    if verdict is Verdict.PROGRESS:
        sid = stage_id(key)
        before = state.progress.get(sid, 0)
        state.progress[sid] = max(before, callback.progress) if callback.progress else before + 1
        return verdict
    state.inbox.append(InboxEntry(callback=callback, via=via))
    return verdict


def reject(state: GateState, verdict: Verdict, reason: str, raw: Any, *, at: str) -> None:
    """Count a message the gate could not use and keep it among the last few, for the status query."""
    state.rejected += 1
    state.last_rejections.append(Rejection(verdict=verdict, reason=reason, received=describe_raw(raw), at=at))
    del state.last_rejections[:-KEEP_REJECTIONS]


def begin_stage(state: GateState, key: StageKey, mode: Mode, *, at: str) -> StageRecord:
    """Open a stage: the gate now waits at it. A stage key runs once per workflow."""
    if record_for(state, key) is not None:
        raise ValueError(f"stage {key!r} has already run in this workflow; stage keys must be unique")
    record = StageRecord(stage=key, mode=mode, requested_at=at)
    state.records.append(record)
    state.current = key
    return record


def take_callback(state: GateState, key: StageKey) -> InboxEntry | None:
    """Remove and return the callback recorded for a stage."""
    entry = inbox_entry(state, key)
    if entry is not None:
        state.inbox.remove(entry)
    return entry


def apply_callback(record: StageRecord, entry: InboxEntry, *, progress: int, at: str) -> None:
    """Resolve a stage from its callback: completed, failed or cancelled, as the service said."""
    callback = entry.callback
    record.callback_at = callback.received_at
    record.progress = max(progress, callback.progress or 0, record.progress)
    record.result = callback.result
    record.advanced_by = entry.via if callback.callback_id else AdvancedBy.MANUAL
    record.advanced_at = at
    if callback.status is CallbackStatus.FAILED:
        record.outcome = Outcome.FAILED
        record.error = callback.error or f"the service reported stage {record.stage!r} failed"
    elif callback.status is CallbackStatus.CANCELLED:
        record.outcome = Outcome.CANCELLED
        record.error = callback.error or f"the service cancelled stage {record.stage!r}"
    else:
        record.outcome = Outcome.COMPLETED


def end_stage(state: GateState, record: StageRecord) -> None:
    """After a stage resolved: drop what only mattered while it was open."""
    state.progress.pop(stage_id(record.stage), None)


def carry(state: GateState) -> GateState:
    """The state for the next run after continue-as-new: everything, minus what no rule can use any more.

    A callback for an ended stage is refused by the stale rule anyway, so the callback IDs, progress and
    inbox entries of ended stages are dropped: the carried state stays small however long the run.
    """
    open_ids = {sid for sid in state.seen_callback_ids.values() if not _resolved_id(state, sid)}
    return replace(
        state,
        records=[replace(r) for r in state.records],
        inbox=[e for e in state.inbox if not is_resolved(state, e.callback.stage)],
        seen_callback_ids={cid: sid for cid, sid in state.seen_callback_ids.items() if sid in open_ids},
        progress={sid: n for sid, n in state.progress.items() if not _resolved_id(state, sid)},
        last_rejections=list(state.last_rejections),
        declared_stages=None if state.declared_stages is None else list(state.declared_stages),
        runs=state.runs + 1,
    )


def _resolved_id(state: GateState, sid: str) -> bool:
    return any(stage_id(r.stage) == sid and r.outcome is not Outcome.PENDING for r in state.records)
