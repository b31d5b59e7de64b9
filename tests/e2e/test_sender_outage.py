"""Finding 3 end to end: a callback server that is down longer than the old ~3 s retry window costs time only.

Real parts on loopback: the session's dev server, an in-process worker, the service mock with its DEFAULT
retry policy (quick backoff only, so the test is short) and the callback server, which starts listening only
after every stage's callback has failed more often than the old default allowed (6 attempts). Every stage
must still be advanced by its callback, not by the reconcile path at the stage timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
from temporalio.client import Client, WorkflowHandle

from app.callbacks.server import create_app
from app.demo.payloads import RunResult, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome
from app.runtime.config import Settings
from app.starter import start_staged_run
from app.worker import build_worker
from service_mock.config import Settings as MockSettings
from service_mock.server import create_app as create_mock
from tests.asgi import serving
from tests.stack import free_port, wait_end

OLD_DEFAULT_ATTEMPTS = 6
BY_CALLBACK = {AdvancedBy.SIGNAL, AdvancedBy.ACTIVITY, AdvancedBy.UPDATE}


async def _attempts(http: httpx.AsyncClient, service_url: str, handle: WorkflowHandle[object, RunResult]) -> int:
    key = f"{handle.id}/{handle.result_run_id}/1"
    jobs = (await http.get(f"{service_url}/jobs", params={"idempotency_key": key})).json()
    return int(jobs[0]["attempts"]) if jobs else 0


async def _wait_for_failed_attempts(
    http: httpx.AsyncClient, service_url: str, handles: list[WorkflowHandle[object, RunResult]], at_least: int
) -> None:
    async with asyncio.timeout(60):
        while min([await _attempts(http, service_url, h) for h in handles]) < at_least:
            await asyncio.sleep(0.2)


async def test_callback_server_down_longer_than_the_old_window(client: Client, settings: Settings) -> None:
    callback_port = free_port()
    mock_settings = MockSettings(callback_backoff_initial=0.05, callback_backoff_max=0.5, heartbeat_interval=0.2)
    async with serving(create_mock(mock_settings)) as service_url, httpx.AsyncClient() as http:
        worker_settings = replace(
            settings, callback_base_url=f"http://127.0.0.1:{callback_port}", service_url=service_url
        )
        async with build_worker(worker_settings, client, http):
            inp = StagedRunInput(stages=1, time_to_request=0.1, time_to_callback=0.2, stage_timeout_seconds=120)
            handles = [await start_staged_run(client, settings.task_queue, replace(inp, mode=mode)) for mode in Mode]
            # The outage: nothing listens on the callback port until each callback failed 2x the old budget.
            await _wait_for_failed_attempts(http, service_url, handles, at_least=2 * OLD_DEFAULT_ATTEMPTS)
            async with serving(create_app(settings, client=client), port=callback_port):
                ends = [await wait_end(handle, timeout=60) for handle in handles]
    for mode, end in zip(Mode, ends, strict=True):
        assert end.result is not None, (mode, end)
        (stage,) = end.result.stages
        assert stage.outcome is Outcome.COMPLETED, (mode, stage)
        assert stage.advanced_by in BY_CALLBACK, (mode, stage)
