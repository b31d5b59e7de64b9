"""Operator actions on a waiting stage, and what the service's callback is answered afterwards (docs/operations.md).

The whole stack as subprocesses; the operator is the real `temporal` CLI, the service is this test posting the
callback URL the service mock was given (its own delivery is switched off with `action: ignore`). Each case
checks the run's end, the sender's answer (a 2xx, or a 4xx with the documented JSON error, never a 5xx) and
that nothing is lost: a callback the run can still use advances it.
"""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from app.demo.payloads import ACTIVITY_AWAIT_STAGE_CALLBACK, ACTIVITY_REQUEST_STAGE, Action, RunResult, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome, WaitingFor
from app.starter import start_staged_run
from tests.outside import Answer, callback_url, send_callback, started_activity_id, task_failures, temporal
from tests.stack import Stack, wait_end, wait_status

STAGE_TIMEOUT = 60.0  # never reached: every case ends its stage long before
# What the sender is answered once the run is gone, per mode (docs/operations.md, "Operator actions").
CLOSED = {
    Mode.SIGNAL: (409, "workflow_closed"),
    Mode.TOKEN: (409, "activity_not_open"),
    Mode.UPDATE: (409, "workflow_closed"),
}


def _waiting(mode: Mode, stages: int = 1) -> StagedRunInput:
    return StagedRunInput(mode=mode, stages=stages, actions=[Action.IGNORE], stage_timeout_seconds=STAGE_TIMEOUT)


async def _waiting_at(handle: WorkflowHandle[object, RunResult], stage: int, mode: Mode) -> None:
    waits_for = WaitingFor.ACTIVITY_COMPLETION if mode is Mode.TOKEN else WaitingFor.CALLBACK
    await wait_status(handle, lambda s: s.current_stage == stage and s.waiting_for is waits_for)
    if mode is Mode.TOKEN:
        await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)


async def _url(stack: Stack, handle: WorkflowHandle[object, RunResult], stage: int) -> str:
    assert handle.result_run_id is not None
    return await callback_url(stack.service_url, f"{handle.id}/{handle.result_run_id}/{stage}")


def _ok(answer: Answer, mode: Mode) -> None:
    assert answer.status == (200 if mode is Mode.UPDATE else 202), answer


async def _cli(temporal_cli: str, address: str, *args: str) -> None:
    done = await temporal(temporal_cli, address, *args)
    assert done.returncode == 0, done.stderr


async def test_token_activity_paused_and_unpaused_still_takes_its_callback(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str
) -> None:
    """`temporal activity pause` on the waiting stage: the callback still completes it (pause stops only retries)."""
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting(Mode.TOKEN, stages=2))
    for stage in (1, 2):
        await _waiting_at(handle, stage, Mode.TOKEN)
        activity_id = await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)
        url = await _url(stack, handle, stage)
        ids = ["--workflow-id", handle.id, "--activity-id", activity_id]
        await _cli(temporal_cli, temporal_address, "activity", "pause", *ids)
        progress = await send_callback(url, {"status": "progress", "progress": 1, "callback_id": f"p-{stage}"})
        assert progress.status == 202, progress  # recorded as a heartbeat; the activity stays paused
        if stage == 2:  # stage 1 completes while paused; stage 2 after its unpause
            await _cli(temporal_cli, temporal_address, "activity", "unpause", *ids)
        _ok(await send_callback(url, {"status": "completed", "callback_id": f"cb-{stage}"}), Mode.TOKEN)
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    assert end.result is not None, end
    assert [(s.outcome, s.advanced_by) for s in end.result.stages] == [(Outcome.COMPLETED, AdvancedBy.ACTIVITY)] * 2
    assert await task_failures(handle) == []


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("action", ["cancel", "terminate"])
async def test_cancelled_or_terminated_run_answers_its_sender_with_a_409(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, mode: Mode, action: str
) -> None:
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting(mode))
    await _waiting_at(handle, 1, mode)
    url = await _url(stack, handle, 1)
    extra = ["--reason", "operator test"] if action == "terminate" else []
    await _cli(temporal_cli, temporal_address, "workflow", action, "--workflow-id", handle.id, *extra)
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    expected_status = WorkflowExecutionStatus.CANCELED if action == "cancel" else WorkflowExecutionStatus.TERMINATED
    assert (await handle.describe()).status is expected_status, end
    for body in ({"status": "completed", "callback_id": "cb-1"}, {"status": "progress", "callback_id": "p-1"}):
        answer = await send_callback(url, body)
        assert (answer.status, answer.code) == CLOSED[mode], answer
    assert await task_failures(handle) == []


@pytest.mark.parametrize("mode", list(Mode))
async def test_reset_to_before_a_stage_requests_it_again_and_the_newest_url_advances_it(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, mode: Mode
) -> None:
    """`temporal workflow reset` to the task that started stage 2: the stage runs again (same idempotency key)."""
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting(mode, stages=2))
    await _waiting_at(handle, 1, mode)
    _ok(await send_callback(await _url(stack, handle, 1), {"status": "completed", "callback_id": "cb-1"}), mode)
    await _waiting_at(handle, 2, mode)
    old_url = await _url(stack, handle, 2)
    history = await handle.fetch_history()
    scheduled = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    stage_2 = [e for e in scheduled if _is_stage_activity(e)][-1]
    reset_to = stage_2.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
    await _cli(
        temporal_cli, temporal_address, "workflow", "reset", "--workflow-id", handle.id,
        "--event-id", str(reset_to), "--reason", "operator test", "--yes",
    )  # fmt: skip
    latest = client.get_workflow_handle(handle.id, result_type=RunResult)
    await _waiting_at(latest, 2, mode)
    new_url = await _url(stack, handle, 2)  # the service got the request again: it keeps the newest URL
    old = await send_callback(old_url, {"status": "completed", "callback_id": "cb-2-old"})
    if mode is Mode.TOKEN:
        assert (old.status, old.code) == (409, "activity_not_open"), old  # the reset run's activity is gone
        assert new_url != old_url
        _ok(await send_callback(new_url, {"status": "completed", "callback_id": "cb-2"}), mode)
    else:
        _ok(old, mode)  # by workflow ID: the run after the reset takes it
    end = await wait_end(latest, timeout=STAGE_TIMEOUT)
    assert end.result is not None, end
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2
    assert await task_failures(latest) == []


def _is_stage_activity(event: object) -> bool:
    attributes = event.activity_task_scheduled_event_attributes  # type: ignore[attr-defined]
    return attributes.activity_type.name in (ACTIVITY_AWAIT_STAGE_CALLBACK, ACTIVITY_REQUEST_STAGE)


LATE = {
    Mode.SIGNAL: (202, None),  # taken by Temporal, then ignored by the gate as stale (counted)
    Mode.TOKEN: (409, "activity_not_open"),
    Mode.UPDATE: (409, "stale_stage"),
}


@pytest.mark.parametrize("mode", list(Mode))
async def test_callback_for_a_run_that_continued_as_new(client: Client, stack: Stack, mode: Mode) -> None:
    """Stage 1's URL used again after the run continued as new (a late redelivery): refused or ignored, no 5xx;
    the new run's own stage still takes its callback."""
    inp = StagedRunInput(
        mode=mode,
        stages=2,
        actions=[Action.IGNORE],
        stage_timeout_seconds=STAGE_TIMEOUT,
        continue_as_new_after_stages=1,
    )
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    await _waiting_at(handle, 1, mode)
    first = await _url(stack, handle, 1)
    _ok(await send_callback(first, {"status": "completed", "callback_id": "cb-1"}), mode)
    latest = client.get_workflow_handle(handle.id, result_type=RunResult)
    await wait_status(latest, lambda s: s.runs == 2 and s.current_stage == 2)
    await _waiting_at(latest, 2, mode)
    late = await send_callback(first, {"status": "completed", "callback_id": "cb-1-again"})
    assert (late.status, late.code) == LATE[mode], late
    _ok(await send_callback(await _url(stack, handle, 2), {"status": "completed", "callback_id": "cb-2"}), mode)
    end = await wait_end(latest, timeout=STAGE_TIMEOUT)
    assert end.result is not None, end
    assert end.result.runs == 2
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2
    if mode is Mode.SIGNAL:
        assert end.result.duplicates_ignored == 1
    assert await task_failures(latest) == []
