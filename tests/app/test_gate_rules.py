"""The gate's rules as plain functions: parsing, dedupe by callback ID and by stage, early, stale, unknown, carry.

No Temporal here: every test builds a `GateState` by hand and runs in milliseconds. Each state is built so
that only the rule under test can produce the verdict asserted (see the comments on the ones that matter).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import InvalidCallbackError
from app.gate.rules import (
    KEEP_REJECTIONS,
    MAX_STAGE_NUMBER,
    admit,
    apply_callback,
    begin_stage,
    carry,
    classify,
    end_stage,
    parse_advance,
    parse_stage_key,
    records_with_progress,
    reject,
    status_of,
    take_callback,
)
from app.gate.types import (
    AdvancedBy,
    CallbackStatus,
    GateState,
    InboxEntry,
    Mode,
    Outcome,
    StageCallback,
    StageKey,
    StageRecord,
    Verdict,
)

AT = "2026-01-01T00:00:00+00:00"


def _cb(stage: StageKey, **fields: Any) -> StageCallback:
    return StageCallback(stage=stage, received_at=AT, **fields)


def _progress(stage: StageKey, callback_id: str | None = None, value: int | None = None) -> StageCallback:
    return _cb(stage, status=CallbackStatus.PROGRESS, callback_id=callback_id, progress=value)


def _at_stage(current: StageKey, *, done: tuple[StageKey, ...] = ()) -> GateState:
    """A state whose `done` stages completed and whose `current` stage is open (no callback yet)."""
    state = GateState()
    for key in done:
        record = begin_stage(state, key, Mode.SIGNAL, at=AT)
        record.outcome = Outcome.COMPLETED
    begin_stage(state, current, Mode.SIGNAL, at=AT)
    return state


# --- parse_stage_key / parse_advance: the accepted forms --------------------------------------------------


def test_bare_int_means_that_stage_completed() -> None:
    assert parse_advance(1, received_at=AT) == StageCallback(stage=1, status=CallbackStatus.COMPLETED, received_at=AT)


def test_decimal_text_is_the_stage_number_not_a_name() -> None:
    callback = parse_advance("1", received_at=AT)
    assert callback.stage == 1
    assert type(callback.stage) is int
    assert parse_stage_key("42") == 42


def test_bare_name_is_a_named_stage() -> None:
    callback = parse_advance("kyc", received_at=AT)
    assert callback.stage == "kyc"
    assert callback.status is CallbackStatus.COMPLETED


def test_garbage_is_a_valid_stage_name_that_only_declared_stages_refuse() -> None:
    # The name pattern accepts any identifier-like word: parsing cannot tell a typo from a real stage name.
    callback = parse_advance("garbage", received_at=AT)
    assert callback.stage == "garbage"
    assert classify(GateState(), callback)[0] is Verdict.ACCEPTED
    # Only a run that declared its stages can refuse it.
    assert classify(GateState(declared_stages=[1, 2, 3]), callback)[0] is Verdict.UNKNOWN


def test_name_pattern_edges() -> None:
    assert parse_stage_key("_a") == "_a"
    assert parse_stage_key("kyc.v2-final_1") == "kyc.v2-final_1"
    assert parse_stage_key("x" * 64) == "x" * 64


def test_float_with_an_integer_value_is_that_number() -> None:
    # JSON encoders sometimes send 1.0 for 1.
    assert parse_stage_key(1.0) == 1
    assert type(parse_stage_key(1.0)) is int


def test_largest_stage_number_is_accepted() -> None:
    assert parse_stage_key(MAX_STAGE_NUMBER) == MAX_STAGE_NUMBER
    assert parse_stage_key(str(MAX_STAGE_NUMBER)) == MAX_STAGE_NUMBER


def test_dict_with_stage_only_means_completed() -> None:
    assert parse_advance({"stage": 2}, received_at=AT) == StageCallback(
        stage=2, status=CallbackStatus.COMPLETED, received_at=AT
    )


def test_dict_stage_as_text_and_as_name() -> None:
    assert parse_advance({"stage": "3"}, received_at=AT).stage == 3
    assert parse_advance({"stage": "kyc"}, received_at=AT).stage == "kyc"


def test_null_status_means_completed() -> None:
    assert parse_advance({"stage": 1, "status": None}, received_at=AT).status is CallbackStatus.COMPLETED


def test_full_form_keeps_every_field() -> None:
    raw = {
        "stage": "kyc",
        "status": "progress",
        "result": {"percent": 40},
        "callback_id": "job-1:progress:2",
        "progress": 2,
    }
    assert parse_advance(raw, received_at=AT) == StageCallback(
        stage="kyc",
        status=CallbackStatus.PROGRESS,
        result={"percent": 40},
        callback_id="job-1:progress:2",
        progress=2,
        received_at=AT,
    )


def test_full_form_failed_with_error() -> None:
    callback = parse_advance({"stage": 4, "status": "failed", "error": "card declined"}, received_at=AT)
    assert callback.status is CallbackStatus.FAILED
    assert callback.error == "card declined"


def test_received_at_from_the_message_wins_over_arrival_time() -> None:
    assert parse_advance({"stage": 1, "received_at": "earlier"}, received_at=AT).received_at == "earlier"
    assert parse_advance({"stage": 1}, received_at=AT).received_at == AT


# --- parse_stage_key / parse_advance: what is refused ------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(MAX_STAGE_NUMBER + 1, id="too-large"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(1.5, id="fraction"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("nan"), id="nan"),
        pytest.param("0", id="text-zero"),
        pytest.param("01", id="leading-zero"),
        pytest.param("+1", id="plus-sign"),
        pytest.param("-1", id="text-negative"),
        pytest.param(" 1", id="leading-space"),
        pytest.param("1 ", id="trailing-space"),
        pytest.param("1.0", id="text-float"),
        pytest.param("\uff11", id="fullwidth-digit"),
        pytest.param("\u0661", id="arabic-indic-digit"),
        pytest.param("", id="empty"),
        pytest.param("a b", id="space-in-name"),
        pytest.param("x" * 65, id="name-too-long"),
        pytest.param("1kyc", id="name-starting-with-digit"),
        pytest.param(None, id="none"),
        pytest.param([1], id="list"),
        pytest.param(b"1", id="bytes"),
    ],
)
def test_bad_stage_key_is_invalid(value: Any) -> None:
    with pytest.raises(InvalidCallbackError):
        parse_stage_key(value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(None, "no stage given", id="none"),
        pytest.param(0, "between 1 and", id="bare-zero"),
        pytest.param(True, "positive integer or a name", id="bare-bool"),
        pytest.param([1], "positive integer or a name", id="bare-list"),
        pytest.param({"stage": 1, "statsu": "failed"}, "unknown field", id="misspelt-key"),
        pytest.param({"stgae": 1}, "unknown field", id="misspelt-stage"),
        pytest.param({}, "'stage' is missing", id="empty-object"),
        pytest.param({"status": "completed"}, "'stage' is missing", id="missing-stage"),
        pytest.param({"stage": None}, "positive integer or a name", id="null-stage"),
        pytest.param({"stage": "01"}, "neither a number nor a name", id="stage-leading-zero"),
        pytest.param({"stage": 1, "status": "done"}, "status must be one of", id="bad-status"),
        pytest.param({"stage": 1, "status": "COMPLETED"}, "status must be one of", id="status-case"),
        pytest.param({"stage": 1, "status": ["completed"]}, "status must be one of", id="status-list"),
        pytest.param({"stage": 1, "progress": -1}, "progress must not be negative", id="negative-progress"),
        pytest.param({"stage": 1, "progress": True}, "progress must be an integer", id="bool-progress"),
        pytest.param({"stage": 1, "progress": "3"}, "progress has the wrong type", id="text-progress"),
        pytest.param({"stage": 1, "progress": 1.5}, "progress has the wrong type", id="float-progress"),
        pytest.param({"stage": 1, "result": [1, 2]}, "result has the wrong type", id="list-result"),
        pytest.param({"stage": 1, "error": 500}, "error has the wrong type", id="int-error"),
        pytest.param({"stage": 1, "callback_id": 7}, "callback_id has the wrong type", id="int-callback-id"),
        pytest.param({"stage": 1, "received_at": 0.5}, "received_at has the wrong type", id="float-received-at"),
    ],
)
def test_bad_advance_is_invalid_and_says_why(raw: Any, message: str) -> None:
    with pytest.raises(InvalidCallbackError, match=message):
        parse_advance(raw, received_at=AT)


def test_digit_string_too_long_for_int_is_invalid_not_a_crash() -> None:
    # Python refuses int() of more than 4300 digits with a plain ValueError; escaping the gate's
    # `except InvalidCallbackError`, it would fail the workflow task on every replay of the signal.
    for text in ("1" * 5000, "9" * 4301, "1" * 8):
        with pytest.raises(InvalidCallbackError, match="between 1 and"):
            parse_stage_key(text)
    with pytest.raises(InvalidCallbackError, match="between 1 and"):
        parse_advance({"stage": "1" * 5000}, received_at=AT)


# --- classify / admit: duplicates ------------------------------------------------------------------------


def test_callback_id_repeat_is_duplicate_after_its_inbox_entry_was_consumed() -> None:
    # Stage 2 is open, its callback has been taken from the inbox, the stage is not resolved: the stage-based
    # rules (stale, inbox duplicate) all pass, so only the seen callback ID can refuse the repeat.
    state = _at_stage(2, done=(1,))
    assert admit(state, _cb(2, callback_id="cb-2"), AdvancedBy.SIGNAL) is Verdict.ACCEPTED
    assert take_callback(state, 2) is not None
    assert state.inbox == []

    repeat = _cb(2, callback_id="cb-2", result={"rewritten": True})
    assert classify(state, repeat)[0] is Verdict.DUPLICATE
    assert admit(state, repeat, AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    assert state.inbox == []
    assert state.duplicates_ignored == 1


def test_callback_id_repeat_is_duplicate_even_for_another_stage() -> None:
    # The ID was seen for stage 2; the repeat names stage 3, which is open, not behind, and has no inbox entry.
    state = _at_stage(2, done=(1,))
    state.seen_callback_ids["cb-x"] = "2"
    callback = _cb(3, callback_id="cb-x")
    assert classify(state, callback) == (Verdict.DUPLICATE, "callback_id 'cb-x' was already received")
    assert admit(state, callback, AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    assert state.inbox == []
    assert state.duplicates_ignored == 1
    # The same message without the ID would have been kept for stage 3.
    assert classify(state, _cb(3))[0] is Verdict.ACCEPTED


def test_callback_id_is_recorded_with_its_stage_id() -> None:
    state = _at_stage(1)
    admit(state, _cb(3, callback_id="cb-3"), AdvancedBy.SIGNAL)
    admit(state, _cb("kyc", callback_id="cb-kyc"), AdvancedBy.UPDATE)
    assert state.seen_callback_ids == {"cb-3": "3", "cb-kyc": "kyc"}


def test_same_stage_again_without_ids_is_duplicate() -> None:
    state = _at_stage(2, done=(1,))
    assert admit(state, _cb(2, result={"n": 1}), AdvancedBy.SIGNAL) is Verdict.ACCEPTED
    assert classify(state, _cb(2, result={"n": 2})) == (Verdict.DUPLICATE, "stage 2 already has its callback")
    assert admit(state, _cb(2, result={"n": 2}), AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    # The first callback is the one kept.
    assert [e.callback.result for e in state.inbox] == [{"n": 1}]
    assert state.duplicates_ignored == 1
    assert state.records[1].duplicates_ignored == 1


def test_same_stage_with_a_new_callback_id_is_still_duplicate_by_stage() -> None:
    state = _at_stage(2, done=(1,))
    admit(state, _cb(2, callback_id="first"), AdvancedBy.SIGNAL)
    assert admit(state, _cb(2, callback_id="second"), AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    assert [e.callback.callback_id for e in state.inbox] == ["first"]
    assert "second" not in state.seen_callback_ids


def test_duplicate_of_an_early_stage_is_counted_without_a_record() -> None:
    state = _at_stage(1)
    admit(state, _cb(3), AdvancedBy.SIGNAL)
    assert admit(state, _cb(3), AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    assert state.duplicates_ignored == 1
    assert [r.duplicates_ignored for r in state.records] == [0]


# --- classify / admit: early and out of order ------------------------------------------------------------


def test_early_callbacks_out_of_order_are_kept_until_their_stage() -> None:
    state = _at_stage(1)
    for stage in (3, 2, 1):
        assert admit(state, _cb(stage, callback_id=f"cb-{stage}"), AdvancedBy.SIGNAL) is Verdict.ACCEPTED
    assert [e.callback.stage for e in state.inbox] == [3, 2, 1]
    assert status_of(state).early_callbacks == [3, 2]

    # Each stage, when the run reaches it, finds its own callback.
    for stage in (1, 2, 3):
        if stage > 1:
            begin_stage(state, stage, Mode.SIGNAL, at=AT)
        entry = take_callback(state, stage)
        assert entry is not None
        assert entry.callback.callback_id == f"cb-{stage}"
        apply_callback(state.records[-1], entry, progress=0, at=AT)
    assert state.inbox == []
    assert [r.outcome for r in state.records] == [Outcome.COMPLETED] * 3


def test_early_callback_says_it_is_kept() -> None:
    state = _at_stage(1)
    assert classify(state, _cb(3)) == (Verdict.ACCEPTED, "stage 3 (kept until the run gets there)")
    assert classify(state, _cb(1)) == (Verdict.ACCEPTED, "stage 1")


def test_callback_before_any_stage_began_is_kept() -> None:
    state = GateState()
    assert admit(state, _cb(1), AdvancedBy.SIGNAL) is Verdict.ACCEPTED
    assert admit(state, _cb("kyc"), AdvancedBy.SIGNAL) is Verdict.ACCEPTED
    assert [e.callback.stage for e in state.inbox] == [1, "kyc"]


# --- classify / admit: stale -----------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [o for o in Outcome if o is not Outcome.PENDING])
def test_callback_for_a_resolved_stage_is_stale(outcome: Outcome) -> None:
    # The stage is the current one (so not "behind"), its inbox is empty and no callback ID is involved:
    # only its resolved record makes it stale.
    state = _at_stage("kyc")
    state.records[0].outcome = outcome
    assert classify(state, _cb("kyc")) == (Verdict.STALE, "stage 'kyc' has already ended")
    assert admit(state, _cb("kyc"), AdvancedBy.SIGNAL) is Verdict.STALE
    assert state.inbox == []
    assert state.duplicates_ignored == 1
    assert state.records[0].duplicates_ignored == 1


def test_numbered_stage_below_current_is_stale_without_a_record() -> None:
    # After continue-as-new from a legacy run, or with records trimmed: no record for stage 3, yet it is over.
    state = GateState(current=5)
    assert classify(state, _cb(3))[0] is Verdict.STALE
    assert admit(state, _cb(3), AdvancedBy.SIGNAL) is Verdict.STALE
    assert state.inbox == []
    assert classify(state, _cb(5))[0] is Verdict.ACCEPTED
    assert classify(state, _cb(6))[0] is Verdict.ACCEPTED


def test_stale_is_not_recorded_as_a_seen_callback_id() -> None:
    state = GateState(current=5)
    admit(state, _cb(3, callback_id="late"), AdvancedBy.SIGNAL)
    assert state.seen_callback_ids == {}


def test_named_stages_have_no_order() -> None:
    # A name is never "behind" a number, and a number never behind a name.
    assert classify(GateState(current=3), _cb("kyc"))[0] is Verdict.ACCEPTED
    assert classify(GateState(current="kyc"), _cb(1))[0] is Verdict.ACCEPTED


def test_progress_for_a_resolved_stage_is_stale() -> None:
    state = _at_stage(2, done=(1,))
    assert admit(state, _progress(1), AdvancedBy.SIGNAL) is Verdict.STALE
    assert state.progress == {}


# --- classify / admit: unknown ---------------------------------------------------------------------------


def test_undeclared_stage_is_unknown_and_changes_nothing() -> None:
    state = GateState(declared_stages=[1, 2, 3])
    for stage in (4, "kyc"):
        callback = _cb(stage, callback_id=f"cb-{stage}")
        assert classify(state, callback) == (Verdict.UNKNOWN, f"this run has no stage {stage!r}")
        assert admit(state, callback, AdvancedBy.SIGNAL) is Verdict.UNKNOWN
    # Refused, not ignored as a duplicate: the caller records the rejection; the ID stays free.
    assert state.inbox == []
    assert state.seen_callback_ids == {}
    assert state.duplicates_ignored == 0


def test_declared_stage_is_known() -> None:
    state = GateState(declared_stages=[1, 2, 3])
    assert admit(state, _cb(3), AdvancedBy.SIGNAL) is Verdict.ACCEPTED


def test_any_stage_is_known_when_none_are_declared() -> None:
    assert classify(GateState(), _cb(999))[0] is Verdict.ACCEPTED


# --- classify / admit: progress --------------------------------------------------------------------------


def test_repeated_progress_with_the_same_callback_id_counts_once() -> None:
    state = _at_stage(2, done=(1,))
    assert admit(state, _progress(2, "p-1"), AdvancedBy.SIGNAL) is Verdict.PROGRESS
    assert admit(state, _progress(2, "p-1"), AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    assert state.progress == {"2": 1}
    assert state.duplicates_ignored == 1


def test_progress_without_callback_id_counts_each_time() -> None:
    state = _at_stage(2, done=(1,))
    for _ in range(3):
        assert admit(state, _progress(2), AdvancedBy.SIGNAL) is Verdict.PROGRESS
    assert state.progress == {"2": 3}
    assert state.duplicates_ignored == 0


def test_progress_with_a_value_takes_the_largest() -> None:
    state = _at_stage(2, done=(1,))
    seen = []
    for n, value in enumerate((5, 3, 7)):
        admit(state, _progress(2, f"p-{n}", value), AdvancedBy.SIGNAL)
        seen.append(state.progress["2"])
    assert seen == [5, 5, 7]


def test_progress_value_zero_counts_as_one_report() -> None:
    # The callback server's HTTP body defaults `progress` to 0: zero means "no value", so it is counted.
    state = _at_stage(2, done=(1,))
    admit(state, _progress(2, value=0), AdvancedBy.SIGNAL)
    admit(state, _progress(2, value=0), AdvancedBy.SIGNAL)
    assert state.progress == {"2": 2}


def test_progress_does_not_fill_the_stage_inbox() -> None:
    state = _at_stage(2, done=(1,))
    admit(state, _progress(2, "p-1"), AdvancedBy.SIGNAL)
    assert state.inbox == []
    assert admit(state, _cb(2, callback_id="final"), AdvancedBy.SIGNAL) is Verdict.ACCEPTED


def test_progress_after_the_final_callback_arrived_is_still_counted() -> None:
    state = _at_stage(2, done=(1,))
    admit(state, _cb(2), AdvancedBy.SIGNAL)
    assert admit(state, _progress(2), AdvancedBy.SIGNAL) is Verdict.PROGRESS
    assert state.progress == {"2": 1}


def test_early_progress_is_kept_per_stage() -> None:
    state = _at_stage(1)
    admit(state, _progress(3), AdvancedBy.SIGNAL)
    admit(state, _progress("kyc", value=4), AdvancedBy.SIGNAL)
    assert state.progress == {"3": 1, "kyc": 4}


def test_open_records_show_progress_so_far() -> None:
    state = _at_stage(2, done=(1,))
    state.progress["2"] = 4
    state.progress["1"] = 9  # a resolved stage's leftover is not shown
    shown = records_with_progress(state)
    assert [r.progress for r in shown] == [0, 4]
    assert state.records[1].progress == 0  # copies: the state's own record is untouched


# --- reject ----------------------------------------------------------------------------------------------


def test_reject_counts_all_and_keeps_the_last_few() -> None:
    state = GateState()
    total = KEEP_REJECTIONS + 5
    for n in range(total):
        reject(state, Verdict.INVALID, f"reason {n}", {"n": n}, at=AT)
    assert state.rejected == total
    assert len(state.last_rejections) == KEEP_REJECTIONS
    assert [r.reason for r in state.last_rejections] == [f"reason {n}" for n in range(5, total)]
    assert state.last_rejections[-1].received == '{"n": 14}'


def test_reject_keeps_the_message_short() -> None:
    state = GateState()
    reject(state, Verdict.UNKNOWN, "no such stage", {"stage": "x" * 1000}, at=AT)
    assert len(state.last_rejections[0].received) == 200
    assert state.last_rejections[0].verdict is Verdict.UNKNOWN


# --- begin_stage / apply_callback / end_stage ------------------------------------------------------------


def test_begin_stage_opens_the_stage() -> None:
    state = GateState()
    record = begin_stage(state, "kyc", Mode.UPDATE, at=AT)
    assert state.current == "kyc"
    assert state.records == [record]
    assert (record.outcome, record.mode, record.requested_at) == (Outcome.PENDING, Mode.UPDATE, AT)


def test_begin_stage_refuses_a_repeated_stage_key() -> None:
    state = _at_stage(2, done=(1,))
    with pytest.raises(ValueError, match="stage 1 has already run"):
        begin_stage(state, 1, Mode.SIGNAL, at=AT)
    with pytest.raises(ValueError, match="stage 2 has already run"):
        begin_stage(state, 2, Mode.SIGNAL, at=AT)
    assert state.current == 2
    assert len(state.records) == 2


def _apply(callback: StageCallback, *, via: AdvancedBy = AdvancedBy.SIGNAL, progress: int = 0) -> StageRecord:
    record = StageRecord(stage=callback.stage)
    apply_callback(record, InboxEntry(callback=callback, via=via), progress=progress, at="later")
    return record


def test_apply_completed_callback() -> None:
    record = _apply(_cb(1, callback_id="cb-1", result={"ok": 1}), via=AdvancedBy.UPDATE)
    assert record.outcome is Outcome.COMPLETED
    assert record.ok
    assert record.result == {"ok": 1}
    assert record.error is None
    assert record.advanced_by is AdvancedBy.UPDATE
    assert (record.callback_at, record.advanced_at) == (AT, "later")


def test_apply_failed_callback_keeps_the_service_error() -> None:
    record = _apply(_cb(1, status=CallbackStatus.FAILED, error="card declined", callback_id="c"))
    assert record.outcome is Outcome.FAILED
    assert not record.ok
    assert record.error == "card declined"


def test_apply_failed_callback_without_error_says_which_stage() -> None:
    record = _apply(_cb("kyc", status=CallbackStatus.FAILED, callback_id="c"))
    assert record.outcome is Outcome.FAILED
    assert record.error == "the service reported stage 'kyc' failed"


def test_apply_cancelled_callback() -> None:
    record = _apply(_cb(2, status=CallbackStatus.CANCELLED, callback_id="c"))
    assert record.outcome is Outcome.CANCELLED
    assert record.error == "the service cancelled stage 2"
    record = _apply(_cb(2, status=CallbackStatus.CANCELLED, error="user gave up", callback_id="c"))
    assert record.error == "user gave up"


def test_apply_callback_without_callback_id_was_manual() -> None:
    assert _apply(_cb(1), via=AdvancedBy.SIGNAL).advanced_by is AdvancedBy.MANUAL
    assert _apply(_cb(1), via=AdvancedBy.UPDATE).advanced_by is AdvancedBy.MANUAL
    assert _apply(_cb(1, callback_id="cb"), via=AdvancedBy.SIGNAL).advanced_by is AdvancedBy.SIGNAL


def test_apply_callback_takes_the_largest_progress() -> None:
    assert _apply(_cb(1, progress=3), progress=5).progress == 5
    assert _apply(_cb(1, progress=8), progress=5).progress == 8


def test_end_stage_drops_only_its_own_progress() -> None:
    state = _at_stage(2, done=(1,))
    state.progress.update({"2": 3, "3": 1})
    end_stage(state, state.records[1])
    assert state.progress == {"3": 1}


# --- carry (continue-as-new) -----------------------------------------------------------------------------


def _state_to_carry() -> GateState:
    """Stages 1 (completed) and 2 (failed) are over, stage 3 is open; stage 4 got an early callback."""
    state = _at_stage(3, done=(1, 2))
    state.records[1].outcome = Outcome.FAILED
    state.declared_stages = [1, 2, 3, 4]
    state.seen_callback_ids = {"cb-1": "1", "cb-2": "2", "p-3": "3", "cb-4": "4"}
    state.inbox = [
        InboxEntry(callback=_cb(2, callback_id="cb-2"), via=AdvancedBy.SIGNAL),  # left behind by a resolved stage
        InboxEntry(callback=_cb(4, callback_id="cb-4"), via=AdvancedBy.SIGNAL),
    ]
    state.progress = {"1": 2, "3": 5, "4": 1}
    state.duplicates_ignored = 7
    reject(state, Verdict.INVALID, "bad", "x", at=AT)
    return state


def test_carry_keeps_callback_ids_of_open_stages_only() -> None:
    carried = carry(_state_to_carry())
    assert carried.seen_callback_ids == {"p-3": "3", "cb-4": "4"}


def test_carried_callback_ids_still_refuse_repeats() -> None:
    # Stage 4 already has its callback in the carried inbox; a repeat of its ID for stage 3 (open, no inbox
    # entry) can only be refused by the carried ID.
    carried = carry(_state_to_carry())
    assert classify(carried, _cb(3, callback_id="cb-4"))[0] is Verdict.DUPLICATE
    assert admit(carried, _progress(3, "p-3"), AdvancedBy.SIGNAL) is Verdict.DUPLICATE
    assert carried.progress["3"] == 5


def test_carry_drops_inbox_and_progress_of_resolved_stages() -> None:
    carried = carry(_state_to_carry())
    assert [e.callback.stage for e in carried.inbox] == [4]
    assert carried.progress == {"3": 5, "4": 1}


def test_carry_copies_records_and_lists() -> None:
    state = _state_to_carry()
    carried = carry(state)
    assert carried.records == state.records
    carried.records[2].outcome = Outcome.COMPLETED
    carried.records.append(StageRecord(stage=4))
    carried.seen_callback_ids["new"] = "4"
    carried.progress["4"] = 99
    carried.inbox.clear()
    assert carried.declared_stages is not None
    carried.declared_stages.append(5)
    carried.last_rejections.clear()
    assert state.records[2].outcome is Outcome.PENDING
    assert len(state.records) == 3
    assert "new" not in state.seen_callback_ids
    assert state.progress["4"] == 1
    assert len(state.inbox) == 2
    assert state.declared_stages == [1, 2, 3, 4]
    assert len(state.last_rejections) == 1


def test_carry_counts_the_run_and_keeps_the_rest() -> None:
    state = _state_to_carry()
    carried = carry(state)
    assert carried.runs == state.runs + 1 == 2
    assert carry(carried).runs == 3
    assert carried.current == 3
    assert carried.duplicates_ignored == 7
    assert carried.rejected == 1
    assert carried.declared_stages == [1, 2, 3, 4]
    assert [r.stage for r in carried.records] == [1, 2, 3]


def test_carry_without_declared_stages() -> None:
    assert carry(GateState()).declared_stages is None
