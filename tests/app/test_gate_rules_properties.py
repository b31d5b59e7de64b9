"""Property test (hypothesis) for the gate's dedupe rules: whatever the order and duplication of deliveries,
and wherever continue-as-new carries the state, every callback ID is applied at most once and every stage
ends exactly once, with its own callback. Plain functions, no server (app/gate/rules.py).
"""

from __future__ import annotations

from collections import Counter, deque

from hypothesis import given, settings
from hypothesis import strategies as st

from app.gate.rules import (
    admit,
    apply_callback,
    begin_stage,
    carry,
    end_stage,
    inbox_entry,
    record_for,
    take_callback,
)
from app.gate.types import AdvancedBy, CallbackStatus, GateState, Mode, Outcome, StageCallback, Verdict

AT = "2026-01-01T00:00:00+00:00"
APPLIED = {Verdict.ACCEPTED, Verdict.PROGRESS}


def _final(stage: int) -> StageCallback:
    return StageCallback(stage=stage, callback_id=f"final-{stage}", result={"stage": stage}, received_at=AT)


def _progress(stage: int, number: int) -> StageCallback:
    return StageCallback(
        stage=stage, status=CallbackStatus.PROGRESS, callback_id=f"progress-{stage}-{number}", received_at=AT
    )


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, dict[int, int], list[StageCallback], set[int]]:
    """Stages 1..n, each with its final callback and some progress ones; every message 1-3 copies, shuffled."""
    stages = draw(st.integers(1, 5))
    progress = {n: draw(st.integers(0, 3)) for n in range(1, stages + 1)}
    messages = [_final(n) for n in progress] + [_progress(n, k) for n, count in progress.items() for k in range(count)]
    copies = [m for m in messages for _ in range(draw(st.integers(1, 3)))]
    shuffled = draw(st.permutations(copies))
    carry_after = draw(st.sets(st.integers(0, len(shuffled))))
    return stages, progress, list(shuffled), carry_after


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(deliveries())
def test_each_callback_id_applies_at_most_once(case: tuple[int, dict[int, int], list[StageCallback], set[int]]) -> None:
    stages, progress, shuffled, carry_after = case
    state = GateState()
    queue = deque(shuffled)
    applied: Counter[str] = Counter()
    delivered = 0

    def deliver() -> None:
        nonlocal state, delivered
        callback = queue.popleft()
        if admit(state, callback, AdvancedBy.SIGNAL) in APPLIED:
            applied[str(callback.callback_id)] += 1
        delivered += 1
        if delivered in carry_after:
            state = carry(state)  # continue-as-new between any two deliveries

    for stage in range(1, stages + 1):
        begin_stage(state, stage, Mode.SIGNAL, at=AT)
        while inbox_entry(state, stage) is None:
            deliver()  # the stage's final callback is always still ahead, or already kept (early)
        entry = take_callback(state, stage)
        record = record_for(state, stage)  # looked up again: carry() copies the records
        assert entry is not None
        assert record is not None
        apply_callback(record, entry, progress=state.progress.get(str(stage), 0), at=AT)
        end_stage(state, record)
    while queue:
        deliver()  # late copies after the last stage: all refused

    assert all(count == 1 for count in applied.values()), applied
    assert {f"final-{n}" for n in progress} <= set(applied)
    assert [(r.stage, r.outcome, r.result) for r in state.records] == [
        (n, Outcome.COMPLETED, {"stage": n}) for n in range(1, stages + 1)
    ]
    for record in state.records:
        assert record.progress <= progress[int(record.stage)]
    # Every delivery was either applied once or counted as ignored: nothing vanished, nothing counted twice.
    assert sum(applied.values()) + state.duplicates_ignored == len(shuffled)
