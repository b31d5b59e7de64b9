"""`validate_input`: the demo run's input is checked before the workflow issues any command."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.demo.payloads import Action, StagedRunInput
from app.demo.workflow import validate_input
from app.gate.types import Mode

GOOD = StagedRunInput(stages=3, actions=[Action.COMPLETE], stage_timeout_seconds=30.0)


def test_good_input_has_no_problems() -> None:
    assert validate_input(GOOD) == []
    assert validate_input(StagedRunInput()) == []


def test_one_action_per_stage_and_one_mode_per_stage_are_fine() -> None:
    inp = replace(
        GOOD,
        actions=[Action.COMPLETE, Action.FAIL, Action.IGNORE],
        stage_modes=[Mode.SIGNAL, Mode.TOKEN, Mode.UPDATE],
    )
    assert validate_input(inp) == []
    assert validate_input(replace(GOOD, stage_modes=[Mode.TOKEN])) == []


def test_zero_timings_are_fine() -> None:
    assert validate_input(replace(GOOD, time_to_request=0, time_to_callback=0)) == []


def test_zero_stages_is_a_problem() -> None:
    # One action is allowed for any stage count, so the stage count check is the only one that can fire.
    assert validate_input(replace(GOOD, stages=0)) == ["stages must be at least 1"]


def test_negative_stages_is_a_problem() -> None:
    assert "stages must be at least 1" in validate_input(replace(GOOD, stages=-2))


@pytest.mark.parametrize("count", [0, 2, 4])
def test_actions_count_must_be_one_or_one_per_stage(count: int) -> None:
    inp = replace(GOOD, actions=[Action.COMPLETE] * count)
    assert validate_input(inp) == [f"actions must hold 1 or 3 entries, got {count}"]


@pytest.mark.parametrize("count", [2, 4])
def test_stage_modes_count_must_be_empty_one_or_one_per_stage(count: int) -> None:
    inp = replace(GOOD, stage_modes=[Mode.SIGNAL] * count)
    assert validate_input(inp) == [f"stage_modes must be empty or hold 1 or 3 entries, got {count}"]


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_stage_timeout_must_be_positive(timeout: float) -> None:
    assert validate_input(replace(GOOD, stage_timeout_seconds=timeout)) == ["stage_timeout_seconds must be positive"]


@pytest.mark.parametrize(
    "inp",
    [
        pytest.param(replace(GOOD, time_to_request=-0.1), id="time_to_request"),
        pytest.param(replace(GOOD, time_to_callback=-1.0), id="time_to_callback"),
    ],
)
def test_negative_timings_are_a_problem(inp: StagedRunInput) -> None:
    assert validate_input(inp) == ["time_to_request and time_to_callback must not be negative"]


def test_every_problem_is_reported_at_once() -> None:
    inp = StagedRunInput(
        stages=2,
        actions=[Action.COMPLETE] * 3,
        stage_modes=[Mode.TOKEN] * 3,
        stage_timeout_seconds=0,
        time_to_callback=-1,
    )
    assert validate_input(inp) == [
        "actions must hold 1 or 2 entries, got 3",
        "stage_modes must be empty or hold 1 or 2 entries, got 3",
        "stage_timeout_seconds must be positive",
        "time_to_request and time_to_callback must not be negative",
    ]
