"""Old runs' `CarriedState` (before the gate layer) becomes an equivalent `GateState`."""

from __future__ import annotations

from typing import Any

import pytest

from app.demo.legacy_state import gate_state_from_carried
from app.demo.payloads import CarriedState
from app.gate.rules import classify
from app.gate.types import AdvancedBy, CallbackStatus, InboxEntry, Outcome, StageCallback, Verdict


def _old_record(stage: int, advanced_by: str | None, **extra: Any) -> dict[str, Any]:
    return {"stage": stage, "outcome": "completed", "advanced_by": advanced_by, **extra}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("signal", AdvancedBy.SIGNAL),
        ("activity", AdvancedBy.ACTIVITY),
        ("reconcile", AdvancedBy.RECONCILE),
        ("manual signal", AdvancedBy.MANUAL),
        ("anything else", AdvancedBy.MANUAL),
        (None, None),
    ],
)
def test_old_advanced_by_text_becomes_the_enum(old: str | None, new: AdvancedBy | None) -> None:
    carried = CarriedState(next_stage=2, records=[_old_record(1, old)])
    assert gate_state_from_carried(carried, stages_total=3).records[0].advanced_by == new


def test_old_record_fields_are_kept() -> None:
    raw = _old_record(
        1,
        "signal",
        requested_at="t0",
        accepted_at="t1",
        callback_at="t2",
        advanced_at="t3",
        attempts=2,
        progress=4,
        duplicates_ignored=1,
        result={"job_id": "j-1"},
    )
    record = gate_state_from_carried(CarriedState(next_stage=2, records=[raw]), stages_total=3).records[0]
    assert record.stage == 1
    assert record.outcome is Outcome.COMPLETED
    assert (record.requested_at, record.accepted_at, record.callback_at, record.advanced_at) == ("t0", "t1", "t2", "t3")
    assert (record.attempts, record.progress, record.duplicates_ignored) == (2, 4, 1)
    assert record.result == {"job_id": "j-1"}


def test_old_record_with_missing_fields_gets_defaults() -> None:
    record = gate_state_from_carried(CarriedState(next_stage=1, records=[{"stage": "1"}]), stages_total=1).records[0]
    assert record.stage == 1
    assert record.outcome is Outcome.PENDING
    assert (record.attempts, record.progress, record.advanced_by) == (0, 0, None)


def test_old_inbox_becomes_signal_entries() -> None:
    carried = CarriedState(
        next_stage=2,
        inbox=[
            {"stage": 3, "callback_id": "cb-3", "result": {"early": True}, "received_at": "t"},
            {"stage": 4, "status": "failed", "error": "nope"},
        ],
    )
    state = gate_state_from_carried(carried, stages_total=4)
    assert state.inbox == [
        InboxEntry(
            callback=StageCallback(stage=3, callback_id="cb-3", result={"early": True}, received_at="t"),
            via=AdvancedBy.SIGNAL,
        ),
        InboxEntry(callback=StageCallback(stage=4, status=CallbackStatus.FAILED, error="nope"), via=AdvancedBy.SIGNAL),
    ]


def test_old_run_state_maps_onto_the_gate() -> None:
    carried = CarriedState(
        next_stage=3,
        records=[_old_record(1, "signal"), _old_record(2, "manual signal")],
        seen_callback_ids=["cb-3", "p-3"],
        early_progress={"3": 2},
        duplicates_ignored=5,
        started_at="t0",
        runs=2,
    )
    state = gate_state_from_carried(carried, stages_total=4)
    # The old run carried only IDs of stages not yet run: they are kept as the next stage's (an open stage).
    assert state.seen_callback_ids == {"cb-3": "3", "p-3": "3"}
    assert state.progress == {"3": 2}
    assert state.declared_stages == [1, 2, 3, 4]
    assert state.current == 2
    assert (state.duplicates_ignored, state.started_at, state.runs) == (5, "t0", 3)


def test_old_run_before_its_first_stage_has_no_current_stage() -> None:
    assert gate_state_from_carried(CarriedState(next_stage=1), stages_total=2).current is None


def test_old_seen_callback_ids_still_refuse_repeats() -> None:
    state = gate_state_from_carried(CarriedState(next_stage=3, seen_callback_ids=["cb-3"]), stages_total=4)
    assert classify(state, StageCallback(stage=3, callback_id="cb-3"))[0] is Verdict.DUPLICATE
    assert classify(state, StageCallback(stage=3, callback_id="cb-new"))[0] is Verdict.ACCEPTED
    # Stages the old run finished are stale even though their IDs were not carried.
    assert classify(state, StageCallback(stage=1, callback_id="cb-1"))[0] is Verdict.STALE
