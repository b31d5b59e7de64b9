"""Whole stack: early callbacks, duplicates, hand-made signals, many concurrent token-mode runs."""

from __future__ import annotations

import asyncio
import base64
import json
from asyncio.subprocess import PIPE

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from app.callback_urls import decode_token
from app.gate_types import Mode, Outcome
from app.payloads import Action, RunResult, ServiceFaults, StagedRunInput
from app.starter import start_staged_run
from tests.conftest import Stack
from tests.runs import wait_end, wait_status


async def _job_for(stack: Stack, handle: WorkflowHandle[object, RunResult], stage: int) -> dict[str, object]:
    """The service mock's job for a stage, found by the idempotency key the workflow sent."""
    key = f"{handle.id}/{handle.result_run_id}/{stage}"
    async with httpx.AsyncClient(base_url=stack.service_url) as http, asyncio.timeout(20):
        while True:
            jobs = (await http.get("/jobs", params={"idempotency_key": key})).json()
            if jobs:
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
        job = await _job_for(stack, handle, stage)
        # Three copies, each answered at once with a 2xx or a final 4xx: a 5xx would have caused retries.
        assert job["deliveries"] + job["deliveries_failed"] == 3, job  # type: ignore[operator]
        assert job["attempts"] == 3, job
    if mode is Mode.SIGNAL:
        # Stage 1's copies arrive while stage 2 runs: the workflow saw them and ignored them.
        assert end.result.stages[0].duplicates_ignored == 2


@pytest.mark.parametrize("mode", list(Mode))
async def test_repeated_http_delivery(client: Client, stack: Stack, mode: Mode) -> None:
    """Deliver the same callback twice by hand: 202 then (signal) 202 / (token) 409; the stage advances once."""
    inp = StagedRunInput(mode=mode, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    job = await _job_for(stack, handle, 1)
    body = {"status": "completed", "callback_id": "hand-made-1", "result": {"n": 1}}
    async with httpx.AsyncClient() as http:
        first = await http.post(str(job["callback_url"]), json=body)
        assert first.status_code == 202, first.text
        second = await http.post(str(job["callback_url"]), json=body)
    end = await wait_end(handle)
    assert end.result is not None, end
    assert end.result.stages[0].result == {"n": 1}
    if mode is Mode.SIGNAL:
        assert second.status_code in (202, 409), second.text
    else:
        assert second.status_code == 409, second.text
        assert second.json()["error"] == "activity_not_open"


@pytest.mark.parametrize("mode", list(Mode))
async def test_stage_advanced_by_hand_with_temporal_cli(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, mode: Mode
) -> None:
    inp = StagedRunInput(mode=mode, stages=2, actions=[Action.IGNORE], stage_timeout_seconds=60)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    for stage in (1, 2):
        await wait_status(handle, lambda s, n=stage: s.current_stage == n and "signal" in s.waiting_for)  # type: ignore[misc]
        cmd = [
            temporal_cli, "workflow", "signal", "--address", temporal_address, "--workflow-id", handle.id,
            "--name", "advance_stage", "--input", json.dumps({"stage": stage}),
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=PIPE, stderr=PIPE)
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
        finally:
            if proc.returncode is None:
                proc.kill()
        assert proc.returncode == 0, stderr.decode()
    end = await wait_end(handle)
    assert end.result is not None, end
    assert [(s.outcome, s.advanced_by) for s in end.result.stages] == [(Outcome.COMPLETED, "manual signal")] * 2


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
    # The tokens really were the awkward kind: standard base64 would have put '+', '/' or '=' in the URL.
    awkward = 0
    for h in handles[:10]:
        job = await _job_for(stack, h, 1)
        token = dict(httpx.URL(str(job["callback_url"])).params)["token"]
        awkward += bool(set("+/=") & set(base64.b64encode(decode_token(token)).decode()))
    assert awkward > 0
