"""Whole stack as subprocesses: every mode x action ends with its documented outcome."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from app.demo.payloads import Action, StagedRunInput
from app.gate.types import Mode, Outcome
from app.starter import start_staged_run
from tests.stack import Stack, wait_end

# The outcome table of docs/demo.md, as data: (Temporal run status, ApplicationError type, stage outcome).
EXPECTED = {
    Action.COMPLETE: ("completed", None, Outcome.COMPLETED),
    Action.FAIL: ("failed", "StageFailed", Outcome.FAILED),
    Action.HEARTBEAT: ("completed", None, Outcome.COMPLETED),
    Action.REPORT_CANCELLATION: ("failed", "StageCancelled", Outcome.CANCELLED),
    Action.IGNORE: ("failed", "StageTimedOut", Outcome.TIMED_OUT),
}


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("action", list(Action))
async def test_mode_action_outcome(client: Client, stack: Stack, mode: Mode, action: Action) -> None:
    inp = StagedRunInput(
        mode=mode,
        stages=2,
        actions=[action],
        time_to_request=0.1,
        time_to_callback=0.3,
        stage_timeout_seconds=3.0 if action is Action.IGNORE else 30.0,
    )
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    end = await wait_end(handle)
    status, error_type, stage_outcome = EXPECTED[action]
    if status == "completed":
        assert end.result is not None, end
        assert [s.outcome for s in end.result.stages] == [stage_outcome, stage_outcome]
        assert end.result.mode is mode
        for stage in end.result.stages:
            assert stage.attempts == 1
            assert stage.requested_at
            assert stage.advanced_at
            assert stage.callback_at
            assert stage.progress == (3 if action is Action.HEARTBEAT else 0)
    else:
        assert end.error_type == error_type, end
        # The first stage ends the run; the query still shows the per-stage record.
        from app.demo.payloads import RunStatus

        status_now = await handle.query("status", result_type=RunStatus)
        assert [s.outcome for s in status_now.stages] == [stage_outcome]
        if action is Action.FAIL:
            assert "simulated failure" in (end.error_message or "")
