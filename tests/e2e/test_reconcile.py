"""v2 of the workflow: before a stage times out it asks the service, so a lost callback does not fail the run."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from app.demo.payloads import Action, ServiceFaults, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome
from app.starter import start_staged_run
from tests.stack import Stack, wait_end


@pytest.mark.parametrize("mode", list(Mode))
async def test_lost_callback_is_reconciled(client: Client, stack: Stack, mode: Mode) -> None:
    inp = StagedRunInput(
        mode=mode,
        stages=2,
        time_to_request=0.05,
        time_to_callback=0.1,
        stage_timeout_seconds=2.0,
        faults=ServiceFaults(lose_callbacks=True),
    )
    end = await wait_end(await start_staged_run(client, stack.settings.task_queue, inp))
    assert end.result is not None, end
    assert [(s.outcome, s.advanced_by) for s in end.result.stages] == [(Outcome.COMPLETED, "reconcile")] * 2


@pytest.mark.parametrize("mode", list(Mode))
async def test_lost_failure_is_reconciled_as_failure(client: Client, stack: Stack, mode: Mode) -> None:
    inp = StagedRunInput(
        mode=mode,
        stages=1,
        actions=[Action.FAIL],
        time_to_request=0.05,
        time_to_callback=0.1,
        stage_timeout_seconds=2.0,
        faults=ServiceFaults(lose_callbacks=True),
    )
    end = await wait_end(await start_staged_run(client, stack.settings.task_queue, inp))
    assert end.error_type == "StageFailed", end
    assert "simulated failure" in (end.error_message or "")


async def test_ignored_stage_still_times_out_after_asking(client: Client, stack: Stack) -> None:
    inp = StagedRunInput(mode=Mode.SIGNAL, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=1.5)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    end = await wait_end(handle)
    assert end.error_type == "StageTimedOut", end
    events = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == ["request_stage", "check_stage"]
    assert any(e.HasField("marker_recorded_event_attributes") for e in events)  # the patch marker


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.UPDATE])
@pytest.mark.parametrize("lose_callbacks", [False, True])
async def test_request_that_answers_too_late_does_not_lose_the_stage(
    client: Client, stack: Stack, mode: Mode, lose_callbacks: bool
) -> None:
    """The service calls back (or does the work) in time but answers the request after the stage's budget.

    The request activity times out; the gate then uses the callback that already arrived, or asks the
    service (reconcile), instead of timing the stage out (v3 failed such runs with StageTimedOut).
    """
    inp = StagedRunInput(
        mode=mode,
        stages=1,
        time_to_request=4.0,
        time_to_callback=0.2,
        stage_timeout_seconds=2.0,
        faults=ServiceFaults(lose_callbacks=lose_callbacks),
    )
    end = await wait_end(await start_staged_run(client, stack.settings.task_queue, inp))
    assert end.result is not None, end
    expected = (
        AdvancedBy.RECONCILE if lose_callbacks else (AdvancedBy.SIGNAL if mode is Mode.SIGNAL else AdvancedBy.UPDATE)
    )
    assert [(s.outcome, s.advanced_by) for s in end.result.stages] == [(Outcome.COMPLETED, expected)]
