"""The hook mailbox's rules as plain functions: dedupe, early events kept and delivered, TTL, one waiter, settle."""

from __future__ import annotations

import pytest

from app.gate import mailbox_rules as rules
from app.gate.hook_types import (
    WAITER_GRACE_SECONDS,
    DeliveryResult,
    HookDelivery,
    HookEventIn,
    HookWaiter,
    MailboxState,
)
from app.gate.shapes import CallbackShape
from app.gate.types import CallbackStatus, Mode

NOW = 1_000_000.0
SHAPE = CallbackShape(
    outcome="type", completed=["paid"], failed=["declined"], progress=["pending"], ignore=["created"], result="data"
)


def _event(event_id: str, kind: str = "paid", ttl: float = 60.0) -> HookEventIn:
    return HookEventIn("pay", "pi_1", event_id, {"type": kind, "data": {"id": "pi_1"}}, "t", ttl_seconds=ttl)


def _waiter(workflow_id: str = "wf", deadline: float = NOW + 600, mode: Mode = Mode.SIGNAL) -> HookWaiter:
    return HookWaiter(workflow_id, "run", "pay", mode, 1, deadline, shape=SHAPE)


def test_an_early_event_is_kept_then_queued_when_its_stage_registers() -> None:
    state = MailboxState("pay", "pi_1")
    answer = rules.receive(state, _event("evt_1"), NOW)
    assert answer is not None
    assert answer.outcome == "kept"
    assert (state.pending[0].event.event_id, state.queue) == ("evt_1", [])
    registered = rules.register(state, _waiter(), NOW + 1)
    assert registered.early_events == 1
    assert ([e.event_id for e in state.queue], state.pending) == (["evt_1"], [])


def test_a_repeated_event_id_is_a_duplicate_whatever_became_of_the_first() -> None:
    state = MailboxState("pay", "pi_1")
    rules.register(state, _waiter(), NOW)
    assert rules.receive(state, _event("evt_1"), NOW) is None  # queued for the waiter
    again = rules.receive(state, _event("evt_1"), NOW)
    assert again is not None
    assert again.outcome == "duplicate"
    assert [e.event_id for e in state.queue] == ["evt_1"]


def test_events_nobody_waits_on_are_dropped_after_their_ttl_and_the_mailbox_ends() -> None:
    state = MailboxState("pay", "pi_1")
    rules.receive(state, _event("evt_1", ttl=5), NOW)
    assert not rules.finished(state, NOW + 1)
    assert rules.next_wakeup(state, NOW + 1) == pytest.approx(4)
    assert rules.expire(state, NOW + 5) == 1
    assert (state.pending, state.dropped) == ([], 1)
    assert rules.finished(state, NOW + 5)
    assert rules.register(state, _waiter(), NOW + 6).early_events == 0  # a late stage finds nothing


def test_a_second_stage_may_not_wait_on_a_key_that_is_taken_until_the_first_is_done() -> None:
    state = MailboxState("pay", "pi_1")
    rules.register(state, _waiter("wf-a"), NOW)
    assert rules.registration_problem(state, _waiter("wf-a"), NOW) is None  # the same stage again (a retry)
    problem = rules.registration_problem(state, _waiter("wf-b"), NOW)
    assert problem is not None
    assert "wf-a" in problem
    # Its stage's time (and the reconcile grace) is over: the key is free again.
    assert rules.registration_problem(state, _waiter("wf-b"), NOW + 600 + WAITER_GRACE_SECONDS) is None


def test_the_waiters_shape_reads_the_event_progress_ignore_and_unmapped() -> None:
    waiter = _waiter()
    paid = rules.reading(_event("e1"), waiter)
    assert isinstance(paid, HookDelivery)
    assert (paid.status, paid.result, paid.callback_id) == (CallbackStatus.COMPLETED, {"id": "pi_1"}, "e1")
    pending = rules.reading(_event("e2", "pending"), waiter)
    assert isinstance(pending, HookDelivery)
    assert pending.status is CallbackStatus.PROGRESS
    ignored = rules.reading(_event("e3", "created"), waiter)
    assert not isinstance(ignored, HookDelivery)
    assert ignored.outcome == "ignored"
    unmapped = rules.reading(_event("e4", "refunded"), waiter)
    assert not isinstance(unmapped, HookDelivery)
    assert unmapped.outcome == "refused"


def test_without_a_shape_the_event_reads_as_stagegates_own_body() -> None:
    waiter = HookWaiter("wf", "run", 1, Mode.SIGNAL, 1, NOW + 60)
    event = HookEventIn("pay", "k", "e", {"status": "failed", "error": "no"}, "t")
    failed = rules.reading(event, waiter)
    assert isinstance(failed, HookDelivery)
    assert (failed.status, failed.error) == (CallbackStatus.FAILED, "no")
    odd = rules.reading(HookEventIn("pay", "k", "e", {"status": "weird"}, "t"), waiter)
    assert not isinstance(odd, HookDelivery)


def test_a_final_outcome_settles_the_mailbox_which_then_ends() -> None:
    state = MailboxState("pay", "pi_1")
    waiter = _waiter()
    rules.register(state, waiter, NOW)
    for event_id, kind in (("e1", "pending"), ("e2", "paid")):
        event = _event(event_id, kind)
        rules.receive(state, event, NOW)
        delivery = rules.reading(event, waiter)
        assert isinstance(delivery, HookDelivery)
        state.queue.pop(0)
        rules.delivered(state, event, delivery, DeliveryResult("signal advance_stage", "accepted"), NOW, "t")
        assert (state.settled_at_epoch is not None) is (kind == "paid")
    assert not rules.finished(state, NOW + 1)  # repeats are still answered as duplicates for a while
    assert rules.finished(state, NOW + state.settle_seconds)
    fate = rules.fate(state, "e2")
    assert fate is not None
    assert fate.outcome == "delivered"


def test_carry_keeps_everything_and_bounds_the_remembered_ids() -> None:
    state = MailboxState("pay", "pi_1", seen={f"e{i}": "kept" for i in range(rules.KEEP_SEEN + 5)})
    carried = rules.carry(state)
    assert len(carried.seen) == rules.KEEP_SEEN
    assert "e5" in carried.seen
    assert "e4" not in carried.seen
    assert carried.runs == 2
