"""Finding 1: a worker SIGKILLed at any point of a stage costs seconds, never the run, while the stage's time remains.

The worker is a real subprocess killed by pid (SIGKILL: no drain, no cleanup) and started again; the dev
server, callback server and service mock are real. What noticed the dead worker before v5:
- signal/update mode: only the request attempt's start-to-close (the demo: time_to_request + 10 s);
- token mode: only the stage's whole budget (the activity stays open after hand-off, nobody heartbeats it).
Now: the request activity has a heartbeat timeout (the gate's interceptor heartbeats while the request runs),
and a token-mode stage asks the service after a hand-off check and makes the request again if it has none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from app.demo.payloads import ServiceFaults, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome
from app.starter import start_staged_run
from tests.stack import Stack, start_stack, wait_activity_started, wait_end


@pytest.fixture(scope="module")
def crash_stack(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own (the session's must not lose its worker), one worker that the tests kill."""
    log_dir: Path = tmp_path_factory.mktemp("crash-logs")
    stack = start_stack(temporal_address, log_dir, task_queue=f"crash-{uuid.uuid4().hex[:8]}")
    try:
        yield stack
    finally:
        stack.stop()


async def _kill_and_restart_worker(stack: Stack) -> None:
    stack.kill("worker-1")
    await asyncio.to_thread(stack.start, "worker-1")


async def _job_exists(stack: Stack, idempotency_key: str, *, timeout: float = 30.0) -> None:
    async with httpx.AsyncClient(trust_env=False) as http, asyncio.timeout(timeout):
        while not (
            await http.get(f"{stack.settings.service_url}/jobs", params={"idempotency_key": idempotency_key})
        ).json():
            await asyncio.sleep(0.1)


async def test_token_worker_killed_before_its_request(client: Client, crash_stack: Stack) -> None:
    """The worker dies before the service got the request: before v5 the stage timed out after its budget."""
    inp = StagedRunInput(
        mode=Mode.TOKEN,
        stages=1,
        time_to_request=0.1,
        time_to_callback=0.2,
        stage_timeout_seconds=40.0,
        faults=ServiceFaults(pause_before_request_seconds=5.0),
    )
    handle = await start_staged_run(client, crash_stack.settings.task_queue, inp)
    await wait_activity_started(handle)
    await asyncio.sleep(0.5)
    await _kill_and_restart_worker(crash_stack)
    end = await wait_end(handle, timeout=90)
    assert end.result is not None, end
    [stage] = end.result.stages
    assert (stage.outcome, stage.advanced_by, stage.requests_repeated) == (Outcome.COMPLETED, AdvancedBy.ACTIVITY, 1)
    assert stage.attempts == 2


@pytest.mark.slow
async def test_token_worker_killed_after_hand_off(client: Client, crash_stack: Stack) -> None:
    """The service has the request (and the task token): the hand-off check finds it, nothing is requested again."""
    inp = StagedRunInput(
        mode=Mode.TOKEN, stages=1, time_to_request=0.1, time_to_callback=14.0, stage_timeout_seconds=60.0
    )
    handle = await start_staged_run(client, crash_stack.settings.task_queue, inp)
    await _job_exists(crash_stack, f"{handle.id}/{handle.result_run_id}/1")
    await asyncio.sleep(1.0)  # the service answered after 0.1 s: the activity is handed off
    await _kill_and_restart_worker(crash_stack)
    end = await wait_end(handle, timeout=90)
    assert end.result is not None, end
    [stage] = end.result.stages
    assert (stage.outcome, stage.advanced_by, stage.requests_repeated) == (Outcome.COMPLETED, AdvancedBy.ACTIVITY, 0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.UPDATE])
async def test_signal_worker_killed_before_its_request(client: Client, crash_stack: Stack, mode: Mode) -> None:
    """A service that holds requests 15 s: one attempt may take 25 s, longer than is left once a dead worker is
    noticed by that; the heartbeat timeout notices it after 10 s, and the retried request is in time."""
    inp = StagedRunInput(
        mode=mode,
        stages=1,
        time_to_request=15.0,
        time_to_callback=0.2,
        stage_timeout_seconds=24.0,
        faults=ServiceFaults(pause_before_request_seconds=2.0),
    )
    handle = await start_staged_run(client, crash_stack.settings.task_queue, inp)
    await wait_activity_started(handle)
    await asyncio.sleep(0.5)
    await _kill_and_restart_worker(crash_stack)
    end = await wait_end(handle, timeout=90)
    assert end.result is not None, end
    [stage] = end.result.stages
    assert stage.outcome is Outcome.COMPLETED, stage
