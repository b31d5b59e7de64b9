"""Token mode (v8tok): the callback URL names the activity, so it survives a retry and a dead worker.

Real parts: the dev server, the service mock, the callback server and the worker as subprocesses (the worker is
SIGKILLed by pid and started again). Before v8tok the URL carried attempt 1's task token: after a retry the
original URL answered 409 `activity_not_open`, and the stage waited for reconcile or its timeout.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from app.demo.activities import StageActivities
from app.demo.payloads import RunResult, ServiceFaults, StagedRunInput
from app.demo.workflow import StagedCallbackWorkflow
from app.gate.callback_urls import CallbackSigner, CallbackTarget
from app.gate.stage_activity import StageGateInterceptor
from app.gate.types import AdvancedBy, Mode, Outcome
from app.runtime.config import Settings, load_settings
from app.starter import start_staged_run
from app.worker import build_worker, callback_signer
from tests.stack import SIGNING_SECRET, Stack, base_env, start_stack, wait_activity_started, wait_end

Handle = WorkflowHandle[Any, RunResult]
NEVER = 600.0  # the service mock's own callback: later than any test here waits


@pytest.fixture(scope="module")
def token_stack(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: its one worker is SIGKILLed."""
    log_dir: Path = tmp_path_factory.mktemp("token-url-logs")
    stack = start_stack(temporal_address, log_dir, task_queue=f"tokenurl-{uuid.uuid4().hex[:8]}")
    try:
        yield stack
    finally:
        stack.stop()


async def _job(stack: Stack, handle: Handle, *, timeout: float = 30.0) -> dict[str, Any]:
    """The service mock's job for stage 1 of the run, once it has one."""
    key = f"{handle.id}/{handle.result_run_id}/1"
    async with httpx.AsyncClient(trust_env=False) as http, asyncio.timeout(timeout):
        while True:
            jobs = (await http.get(f"{stack.service_url}/jobs", params={"idempotency_key": key})).json()
            if jobs:
                return dict(jobs[0])
            await asyncio.sleep(0.05)


async def _retargeted(stack: Stack, handle: Handle, old_url: str, *, timeout: float = 30.0) -> str:
    """The job's callback URL once the retried request has handed the service a new one."""
    async with asyncio.timeout(timeout):
        while (url := str((await _job(stack, handle))["callback_url"])) == old_url:
            await asyncio.sleep(0.05)
    return url


async def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
        return await http.post(url, json=body)


def _query(url: str) -> dict[str, str]:
    return dict(httpx.URL(url).params)


async def test_original_url_completes_the_stage_after_a_retry_and_a_worker_kill(
    client: Client, token_stack: Stack
) -> None:
    """Attempt 1 hands its URL to the service and fails; attempt 2 waits; its worker is SIGKILLed mid-wait.

    The service calls the URL it got first: the stage completes by that callback, not by reconcile.
    """
    inp = StagedRunInput(
        mode=Mode.TOKEN,
        stages=1,
        time_to_request=1.5,
        time_to_callback=NEVER,
        stage_timeout_seconds=120.0,
        faults=ServiceFaults(lose_first_request_answer=True),
    )
    handle = await start_staged_run(client, token_stack.settings.task_queue, inp)
    original = str((await _job(token_stack, handle))["callback_url"])
    first = _query(original)
    assert "token" not in first
    assert (first["attempt"], first["run"], first["act"]) == ("1", handle.result_run_id, "1")
    newer = _query(await _retargeted(token_stack, handle, original))
    assert (newer["attempt"], newer["run"], newer["act"]) == ("2", first["run"], first["act"])
    await asyncio.sleep(inp.time_to_request + 0.5)  # attempt 2 has its answer: the activity is handed off
    token_stack.kill("worker-1")
    await asyncio.to_thread(token_stack.start, "worker-1")

    answer = await _post(original, {"status": "completed", "callback_id": "cb-original", "result": {"by": "url-1"}})
    assert answer.status_code == 202, answer.text
    end = await wait_end(handle, timeout=60)
    assert end.result is not None, end
    [stage] = end.result.stages
    assert (stage.outcome, stage.advanced_by, stage.result) == (Outcome.COMPLETED, AdvancedBy.ACTIVITY, {"by": "url-1"})
    assert stage.requests_repeated == 0
    # The activity is closed now: the same URL again is a clean 409, never a 5xx.
    again = await _post(original, {"status": "completed", "callback_id": "cb-again"})
    assert (again.status_code, again.json()["error"]) == (409, "activity_not_open")


async def test_a_cancelled_activity_answers_409_not_a_silent_202(client: Client, token_stack: Stack) -> None:
    """The hand-off check found no request (the worker died before making it) and started a fresh activity.

    A callback for the old, cancelled activity is refused with 409 `activity_cancelled`: completing it would be
    accepted by Temporal and then read by no one. The fresh activity's URL completes the stage.
    """
    inp = StagedRunInput(
        mode=Mode.TOKEN,
        stages=1,
        time_to_request=0.1,
        time_to_callback=NEVER,
        stage_timeout_seconds=60.0,
        faults=ServiceFaults(pause_before_request_seconds=5.0),
    )
    handle = await start_staged_run(client, token_stack.settings.task_queue, inp)
    await wait_activity_started(handle)
    token_stack.kill("worker-1")  # before the request: the service never hears of activity 1
    await asyncio.to_thread(token_stack.start, "worker-1")
    fresh = str((await _job(token_stack, handle, timeout=60))["callback_url"])
    assert _query(fresh)["act"] != "1"
    signer = CallbackSigner(token_stack.callback_url, SIGNING_SECRET)
    cancelled = signer.url_for(
        CallbackTarget(
            Mode.TOKEN,
            handle.id,
            1,
            1,
            int(_query(fresh)["exp"]),
            run_id=handle.result_run_id,
            activity_id="1",
        )
    )
    refused = await _post(cancelled, {"status": "completed", "callback_id": "cb-old"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "activity_cancelled"
    # A progress report is its own heartbeat: the same 409 (before v8tok the SDK's cancellation error became a 500).
    progress = await _post(cancelled, {"status": "progress", "progress": 1})
    assert (progress.status_code, progress.json()["error"]) == (409, "activity_cancelled"), progress.text
    taken = await _post(fresh, {"status": "completed", "callback_id": "cb-fresh"})
    assert taken.status_code == 202, taken.text
    end = await wait_end(handle, timeout=60)
    assert end.result is not None, end
    [stage] = end.result.stages
    assert (stage.outcome, stage.advanced_by, stage.requests_repeated) == (Outcome.COMPLETED, AdvancedBy.ACTIVITY, 1)


# --- a run in flight from before v8tok: its URL carries the attempt's task token ----------------------------


class _PreV8TokenSigner(CallbackSigner):
    """Signs token-mode URLs the way workers before v8tok did: the attempt's task token, no activity IDs."""

    def url_for(self, target: CallbackTarget) -> str:
        if target.mode is Mode.TOKEN:
            target = replace(target, run_id=None, activity_id=None, task_token=activity.info().task_token)
        return super().url_for(target)


@pytest.fixture
def lab_settings(temporal_address: str, token_stack: Stack) -> Settings:
    """In-process workers on a queue of their own, against the stack's callback server and service mock."""
    base = load_settings(base_env(temporal_address))
    return replace(
        base,
        task_queue=f"prev8-{uuid.uuid4().hex[:8]}",
        callback_base_url=token_stack.callback_url,
        service_url=token_stack.service_url,
    )


def _old_worker(settings: Settings, client: Client, http: httpx.AsyncClient) -> Worker:
    activities = StageActivities(settings, http)
    own = callback_signer(settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[StagedCallbackWorkflow],
        activities=[activities.await_stage_callback, activities.check_stage],
        interceptors=[StageGateInterceptor(_PreV8TokenSigner(own.base_url, own.secret, own.grace_seconds))],
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as shared:
        yield shared


async def test_a_task_token_url_of_a_run_in_flight_keeps_working(
    client: Client, token_stack: Stack, lab_settings: Settings, http: httpx.AsyncClient
) -> None:
    """A pre-v8tok worker handed out a task-token URL; the new worker takes over; that URL still completes."""
    inp = StagedRunInput(mode=Mode.TOKEN, stages=1, time_to_request=0.1, time_to_callback=NEVER)
    async with _old_worker(lab_settings, client, http):
        handle = await start_staged_run(client, lab_settings.task_queue, inp)
        legacy = str((await _job(token_stack, handle))["callback_url"])
        await asyncio.sleep(inp.time_to_request + 0.5)  # handed off before the old worker goes
    assert "token" in _query(legacy)
    assert "act" not in _query(legacy)
    async with build_worker(lab_settings, client, http):
        answer = await _post(legacy, {"status": "completed", "callback_id": "cb-legacy", "result": {"by": "old url"}})
        assert answer.status_code == 202, answer.text
        end = await wait_end(handle, timeout=60)
    assert end.result is not None, end
    [stage] = end.result.stages
    assert (stage.outcome, stage.advanced_by, stage.result) == (
        Outcome.COMPLETED,
        AdvancedBy.ACTIVITY,
        {"by": "old url"},
    )
