"""Runs continued-as-new before the gate layer carried `CarriedState`; turn it into the gate's `GateState`."""

from __future__ import annotations

from typing import Any

from app.demo.payloads import CarriedState
from app.gate.rules import stage_id
from app.gate.types import (
    AdvancedBy,
    CallbackStatus,
    GateState,
    InboxEntry,
    Outcome,
    StageCallback,
    StageRecord,
)

# Free-text `advanced_by` values of the old records.
_ADVANCED_BY = {"signal": AdvancedBy.SIGNAL, "activity": AdvancedBy.ACTIVITY, "reconcile": AdvancedBy.RECONCILE}


def _record(raw: dict[str, Any]) -> StageRecord:
    advanced_by = raw.get("advanced_by")
    return StageRecord(
        stage=int(raw["stage"]),
        outcome=Outcome(raw.get("outcome", Outcome.PENDING.value)),
        requested_at=raw.get("requested_at"),
        accepted_at=raw.get("accepted_at"),
        callback_at=raw.get("callback_at"),
        advanced_at=raw.get("advanced_at"),
        attempts=int(raw.get("attempts", 0)),
        progress=int(raw.get("progress", 0)),
        duplicates_ignored=int(raw.get("duplicates_ignored", 0)),
        advanced_by=None if advanced_by is None else _ADVANCED_BY.get(advanced_by, AdvancedBy.MANUAL),
        result=raw.get("result"),
        error=raw.get("error"),
    )


def _callback(raw: dict[str, Any]) -> StageCallback:
    return StageCallback(
        stage=int(raw["stage"]),
        status=CallbackStatus(raw.get("status", CallbackStatus.COMPLETED.value)),
        result=raw.get("result"),
        error=raw.get("error"),
        callback_id=raw.get("callback_id"),
        progress=raw.get("progress"),
        received_at=raw.get("received_at"),
    )


def gate_state_from_carried(carried: CarriedState, *, stages_total: int) -> GateState:
    """The gate state equivalent of an old run's carried state."""
    inbox = [_callback(raw) for raw in carried.inbox]
    return GateState(
        records=[_record(raw) for raw in carried.records],
        inbox=[InboxEntry(callback=cb, via=AdvancedBy.SIGNAL) for cb in inbox],
        seen_callback_ids=dict.fromkeys(carried.seen_callback_ids, stage_id(carried.next_stage)),
        progress=dict(carried.early_progress),
        declared_stages=list(range(1, stages_total + 1)),
        current=carried.next_stage - 1 if carried.next_stage > 1 else None,
        duplicates_ignored=carried.duplicates_ignored,
        started_at=carried.started_at,
        runs=carried.runs + 1,
    )
