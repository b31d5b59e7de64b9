"""Whole stack: early callbacks, duplicates, hand-made signals, many concurrent token-mode runs."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from app.demo.payloads import Action, RunResult, ServiceFaults, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome, WaitingFor
from app.starter import start_staged_run
from tests.signals import temporal_signal
from tests.stack import Stack, wait_end, wait_status


async def _job_for(
    stack: Stack, handle: WorkflowHandle[object, RunResult], stage: int, *, done: bool = False
) -> dict[str, object]:
    """The service mock's job for a stage, found by the idempotency key the workflow sent (with `done`: once the
    service has nothing more to send; the run can end while its last duplicate copy is still on the wire)."""
    key = f"{handle.id}/{handle.result_run_id}/{stage}"
    async with httpx.AsyncClient(base_url=stack.service_url) as http, asyncio.timeout(20):
        while True:
            jobs = (await http.get("/jobs", params={"idempotency_key": key})).json()
            if jobs and (jobs[0]["done"] or not done):
                job: dict[str, object] = jobs[0]
                return job
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("mode", list(Mode))
async def test_early_callback(client: Client, stack: Stack, mode: Mode) -> None:
    # The service calls back 0.2 s after the request arrives but answers the request only after 1 s.
    inp = StagedRunInput(mode=mode, stages=2, time_to_request=1.0, time_to_callback=0.2, stage_timeout_seconds=30)
    end = await wait_end(await start_staged_run(client, stack.settings.task_queue, inp))
    assert end.result is not None, end
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2
    for s in end.result.stages:
        assert s.attempts == 1
        if mode is Mode.SIGNAL:
            # The callback really came first: it waited in the workflow until the gate opened.
            assert s.callback_at is not None
            assert s.accepted_at is not None
            assert s.callback_at < s.accepted_at


@pytest.mark.parametrize("mode", list(Mode))
async def test_service_duplicate_deliveries_advance_once(client: Client, stack: Stack, mode: Mode) -> None:
    inp = StagedRunInput(
        mode=mode, stages=2, time_to_request=0.1, time_to_callback=0.3, faults=ServiceFaults(duplicate_deliveries=2)
    )
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    end = await wait_end(handle)
    assert end.result is not None, end
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2
    for stage in (1, 2):
        job = await _job_for(stack, handle, stage, done=True)
        # Three copies, each answered at once with a 2xx or a final 4xx: a 5xx would have caused retries.
        assert job["deliveries"] + job["deliveries_failed"] == 3, job  # type: ignore[operator]
        assert job["attempts"] == 3, job
    if mode is Mode.SIGNAL:
        # Stage 1's copies arrive while stage 2 runs: the workflow saw them and ignored them.
        assert end.result.stages[0].duplicates_ignored == 2


async def _events(handle: WorkflowHandle[object, RunResult], kind: EventType.ValueType) -> int:
    return sum(1 for e in await _history(handle) if e.event_type == kind)


async def _history(handle: WorkflowHandle[object, RunResult]) -> list[HistoryEvent]:
    return [e async for e in handle.fetch_history_events()]


@pytest.mark.parametrize("mode", list(Mode))
async def test_repeated_http_delivery(client: Client, stack: Stack, mode: Mode) -> None:
    """Deliver stage 1's callback twice by hand while the run waits at stage 2: it advances once, as documented.

    signal: 202 both times, the gate ignores the repeat by callback ID; token: 202 then 409 (the activity is
    closed); update: 200 then 409 duplicate_callback, and the refused update adds nothing to the history.
    """
    inp = StagedRunInput(mode=mode, stages=2, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    job = await _job_for(stack, handle, 1)
    body = {"status": "completed", "callback_id": "hand-made-1", "result": {"n": 1}}
    async with httpx.AsyncClient() as http:
        first = await http.post(str(job["callback_url"]), json=body)
        await _job_for(stack, handle, 2)  # the run has moved on to stage 2 and is still open
        second = await http.post(str(job["callback_url"]), json=body)
    status = await wait_status(handle, lambda s: s.current_stage == 2 and s.stages[0].outcome is Outcome.COMPLETED)
    stage1 = status.stages[0]
    assert stage1.result == {"n": 1}
    if mode is Mode.SIGNAL:
        assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
        status = await wait_status(handle, lambda s: s.duplicates_ignored == 1)
        assert status.stages[0].duplicates_ignored == 1
        assert await _events(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 2
        assert stage1.advanced_by is AdvancedBy.SIGNAL
    elif mode is Mode.TOKEN:
        assert first.status_code == 202, first.text
        assert (second.status_code, second.json()["error"]) == (409, "activity_not_open"), second.text
        assert stage1.advanced_by is AdvancedBy.ACTIVITY
    else:
        assert (first.status_code, first.json()["verdict"]) == (200, "accepted"), first.text
        assert (second.status_code, second.json()["error"]) == (409, "duplicate_callback"), second.text
        assert await _events(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == 1
        assert stage1.advanced_by is AdvancedBy.UPDATE
    await handle.signal("advance_stage", 2)
    end = await wait_end(handle)
    assert end.result is not None, end
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2


async def test_update_refusals_leave_no_trace_in_history(client: Client, stack: Stack) -> None:
    """Update mode: duplicate, stale and unknown stages get their 4xx, and the history does not grow."""
    inp = StagedRunInput(mode=Mode.UPDATE, stages=2, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    job1 = await _job_for(stack, handle, 1)
    async with httpx.AsyncClient() as http:
        first = await http.post(str(job1["callback_url"]), json={"callback_id": "cb-1"})
        assert (first.status_code, first.json()["verdict"]) == (200, "accepted"), first.text
        job2 = await _job_for(stack, handle, 2)
        await wait_status(handle, lambda s: s.current_stage == 2 and s.waiting_for is WaitingFor.CALLBACK)
        before = len(await _history(handle))
        duplicate = await http.post(str(job1["callback_url"]), json={"callback_id": "cb-1"})
        stale = await http.post(str(job1["callback_url"]), json={"callback_id": "cb-1-again"})
        after = len(await _history(handle))
        assert (duplicate.status_code, duplicate.json()["error"]) == (409, "duplicate_callback"), duplicate.text
        assert (stale.status_code, stale.json()["error"]) == (409, "stale_stage"), stale.text
        assert after == before, f"refused updates added {after - before} events"
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("advance_stage", {"stage": 3})
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "UnknownStage"
        assert len(await _history(handle)) == before
        done = await http.post(str(job2["callback_url"]), json={"callback_id": "cb-2", "result": {"ok": True}})
        assert (done.status_code, done.json()["verdict"]) == (200, "accepted"), done.text
    end = await wait_end(handle)
    assert end.result is not None, end
    assert [s.advanced_by for s in end.result.stages] == [AdvancedBy.UPDATE] * 2
    assert end.result.duplicates_ignored == 0  # refused before they were written: nothing to ignore


@pytest.mark.parametrize("mode", list(Mode))
async def test_stage_advanced_by_hand_with_temporal_cli(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, mode: Mode
) -> None:
    """`temporal workflow signal` in its minimal forms: `{"stage": N}` and the community thread's bare `N`."""
    inp = StagedRunInput(mode=mode, stages=2, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    waiting = WaitingFor.ACTIVITY_COMPLETION if mode is Mode.TOKEN else WaitingFor.CALLBACK
    for stage, text in ((1, json.dumps({"stage": 1})), (2, "2")):
        await wait_status(handle, lambda s, n=stage: s.current_stage == n and s.waiting_for is waiting)  # type: ignore[misc]
        await temporal_signal(temporal_cli, temporal_address, handle.id, text)
    end = await wait_end(handle)
    assert end.result is not None, end
    assert [(s.outcome, s.advanced_by) for s in end.result.stages] == [(Outcome.COMPLETED, AdvancedBy.MANUAL)] * 2


async def test_garbage_signal_is_counted_and_visible(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str
) -> None:
    """A signal the gate cannot understand is not dropped silently: it is counted and shown in `status`."""
    inp = StagedRunInput(mode=Mode.SIGNAL, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    for text in ('"garbage"', json.dumps({"stage": 1, "statsu": "failed"}), "0"):
        await temporal_signal(temporal_cli, temporal_address, handle.id, text)
    status = await wait_status(handle, lambda s: s.rejected == 3)
    reasons = [r.reason for r in status.last_rejections]
    assert "garbage" in reasons[0]
    assert "statsu" in reasons[1]
    assert "between 1 and" in reasons[2]
    assert status.stages[0].outcome is Outcome.PENDING  # none of them advanced the stage
    await temporal_signal(temporal_cli, temporal_address, handle.id, "1")
    end = await wait_end(handle)
    assert end.result is not None, end
    assert end.result.rejected == 3


async def test_signal_for_a_future_stage_is_kept(client: Client, stack: Stack) -> None:
    inp = StagedRunInput(mode=Mode.SIGNAL, stages=3, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    # Stage 3 and 2 arrive before the run even reaches them; then stage 1; then stale and repeated ones.
    for stage in (3, 2, 1, 1, 2):
        await handle.signal("advance_stage", {"stage": stage, "callback_id": f"cb-{stage}"})
    end = await wait_end(handle)
    assert end.result is not None, end
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 3
    assert end.result.duplicates_ignored == 2


async def test_fifty_concurrent_token_runs_first_attempt(client: Client, stack: Stack) -> None:
    inp = StagedRunInput(mode=Mode.TOKEN, stages=2, time_to_request=0.1, time_to_callback=0.5, stage_timeout_seconds=60)
    handles = await asyncio.gather(*(start_staged_run(client, stack.settings.task_queue, inp) for _ in range(50)))
    ends = await asyncio.gather(*(wait_end(h, timeout=120) for h in handles))
    attempts = [s.attempts for e in ends if e.result for s in e.result.stages]
    assert [e.error_type for e in ends if e.result is None] == []
    assert attempts == [1] * 100
    # The URLs name the activity (run + activity ID, since v8tok), not one attempt's task token.
    for h in handles[:10]:
        job = await _job_for(stack, h, 1)
        params = dict(httpx.URL(str(job["callback_url"])).params)
        assert "token" not in params
        assert (params["run"], params["act"]) == (h.result_run_id, "1")
