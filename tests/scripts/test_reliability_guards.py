"""The judges of the guard rows (issue 21 items 1-4, 6): each one counts a broken rule, so a row cannot pass by
miscounting. Pure: the rows themselves run in `just reliability` (each was also run with its rule broken on
purpose; docs/RELIABILITY.md)."""

from __future__ import annotations

import argparse
import json

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent, WorkflowTaskFailedEventAttributes

from app.gate.types import Mode
from scripts.reliability.guard_row import GuardRow
from scripts.reliability.malformed import EXPECTED_BODY, judge
from scripts.reliability.operator_actions import CLOSED, Case, ok_answer, task_failures
from scripts.reliability.operator_actions import judge as judge_operator
from scripts.reliability.slow_headers import row as slow_row


def _answer(status: int, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def test_malformed_judge_takes_only_the_documented_json_400() -> None:
    assert judge(_answer(400, "application/json", json.dumps(EXPECTED_BODY).encode())) == "json400"


@pytest.mark.parametrize(
    ("raw", "verdict"),
    [
        (_answer(400, "text/plain; charset=utf-8", b"Invalid HTTP request received."), "400 not JSON"),
        (_answer(400, "application/json", b'{"error": "bad_request"}'), "400 other"),
        (_answer(500, "application/json", json.dumps(EXPECTED_BODY).encode()), "5xx"),
        (b"", "no answer"),
        (b"garbage", "not HTTP"),
    ],
)
def test_malformed_judge_counts_everything_else(raw: bytes, verdict: str) -> None:
    assert judge(raw) == verdict


def _row(**changes: object) -> GuardRow:
    base: dict[str, object] = {
        "fault": "f",
        "tries": "t",
        "expected": "e",
        "observed": "o",
        "lost": 0,
        "double_advanced": 0,
        "five_xx": 0,
        "via_reconcile": "-",
        "command": "c",
        "breaches": {"rule": 0},
    }
    return GuardRow(**(base | changes))  # type: ignore[arg-type]


def test_a_row_fails_on_any_breach_and_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert _row().ok
    for broken in (_row(lost=1), _row(five_xx=1), _row(double_advanced=1), _row(breaches={"rule": 1})):
        assert not broken.ok
    with pytest.raises(SystemExit) as exited:
        _row(breaches={"forged_advanced": 2}).emit()
    assert exited.value.code == 1
    assert "forged_advanced': 2" in capsys.readouterr().err
    _row().emit()  # a green row prints and returns
    assert capsys.readouterr().out.rstrip().endswith("| `c` |")


def test_operator_judge_counts_a_wrong_answer_a_5xx_and_a_lost_run() -> None:
    good = [
        Case(
            "cancel", Mode.TOKEN, True, [("completed after cancel", CLOSED[Mode.TOKEN], CLOSED[Mode.TOKEN])], "canceled"
        ),
        Case("terminate", Mode.SIGNAL, True, [], "terminated"),
        Case("reset", Mode.UPDATE, False, [("old URL", ok_answer(Mode.UPDATE), ok_answer(Mode.UPDATE))], "completed"),
    ]
    verdict = judge_operator(good)
    assert (verdict.answers, verdict.wrong_answers, verdict.five_xx, verdict.lost) == (2, [], 0, [])
    bad = [
        Case("cancel", Mode.SIGNAL, True, [("completed after cancel", (503, "x"), CLOSED[Mode.SIGNAL])], "canceled"),
        Case("reset", Mode.TOKEN, False, [("old URL", (202, None), (409, "activity_not_open"))], "lost: TimeoutError"),
        Case("terminate", Mode.UPDATE, True, [], "completed"),  # the operator's terminate did not end it
        # The right status with another error code is still off the table.
        Case(
            "cancel",
            Mode.TOKEN,
            True,
            [("progress after cancel", (409, "workflow_closed"), CLOSED[Mode.TOKEN])],
            "canceled",
        ),
    ]
    verdict = judge_operator(bad)
    assert len(verdict.wrong_answers) == 3
    assert verdict.five_xx == 1
    assert verdict.lost == ["reset/token: lost: TimeoutError", "terminate/update: completed"]


def _slow_report(closed: int, within: int, p99: float) -> dict[str, object]:
    return {
        "slow_closed": closed,
        "slow_closed_within_timeout_plus_1s": within,
        "slow_close_after_s": {"min": 4.8, "median": 4.9, "max": 9.0},
        "callback_statuses": {202: 10},
        "callback_latency_s": {"p50": 0.1, "p99": p99, "max": p99},
        "runs_completed": 10,
    }


def test_slow_row_counts_connections_left_open_and_a_slow_p99() -> None:
    args = argparse.Namespace(slow=10, runs=10, concurrency=2, header_timeout=5.0)
    assert slow_row(args, _slow_report(10, 10, 0.2), ok=True).ok
    late = slow_row(args, _slow_report(10, 7, 0.2), ok=False)
    assert late.breaches["slow_not_closed_in_time"] == 3
    assert not slow_row(args, _slow_report(10, 10, 1.2), ok=False).ok


def test_operator_row_counts_task_failures_but_not_the_operators_own_marks() -> None:
    """`workflow reset` and a `terminate` that lands mid-task leave WorkflowTaskFailed marks of the server's own;
    any other cause (the run's code failing a task) is a breach."""

    def failed(cause: WorkflowTaskFailedCause.ValueType) -> HistoryEvent:
        return HistoryEvent(
            event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(cause=cause),
        )

    reset = failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW)
    terminated = failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND)
    code = failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE)
    other = HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert task_failures([reset, terminated, other]) == 0
    assert task_failures([reset, code, terminated, code]) == 2
