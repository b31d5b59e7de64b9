"""The hook hand-off check's reading of a pending activity's heartbeat details (`app/gate/hook_handoff.py`)."""

from __future__ import annotations

from dataclasses import asdict

from app.gate.hook_handoff import registered
from app.gate.hook_types import HookRegistered

MARK = asdict(HookRegistered(source="pay", key="pi_1", stage="pay", attempt=2))


def test_the_current_attempts_mark_says_registered() -> None:
    assert registered([MARK], stage="pay", attempt=2)


def test_no_details_or_another_attempts_mark_says_not_registered() -> None:
    assert not registered([], stage="pay", attempt=1)
    assert not registered([MARK], stage="pay", attempt=3)  # details outlive the attempt that recorded them


def test_another_stage_or_the_users_own_details_are_not_a_mark() -> None:
    assert not registered([MARK], stage="ship", attempt=2)
    assert not registered([{**MARK, "kind": "progress"}], stage="pay", attempt=2)
    assert not registered(["50%", 3, None], stage="pay", attempt=2)
