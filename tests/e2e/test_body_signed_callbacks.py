"""Body-signed callbacks end to end: the service mock signs with the reference package, the server verifies.

Real parts on loopback: the session's dev server, an in-process worker whose callback URLs name the sender,
the service mock signing every attempt (heartbeats and duplicated deliveries included), the callback server
holding the sender's keys. Every mode completes, each callback applied once.
"""

from __future__ import annotations

import base64
from dataclasses import replace

import httpx
from temporalio.client import Client

from app.callbacks.server import create_app
from app.demo.payloads import Action, ServiceFaults, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome
from app.runtime.config import Settings
from app.starter import start_staged_run
from app.worker import build_worker
from service_mock.config import Settings as MockSettings
from service_mock.server import create_app as create_mock
from tests.asgi import serving
from tests.stack import wait_end

OLD_KEY = "whsec_" + base64.b64encode(b"the key being rotated out").decode()
NEW_KEY = "whsec_" + base64.b64encode(b"the key being rotated in!").decode()


async def test_signed_callbacks_in_every_mode(client: Client, settings: Settings) -> None:
    # The mock signs with both keys (mid-rotation); the server holds only the new one: any key may match.
    mock = MockSettings(
        callback_backoff_initial=0.05, callback_backoff_max=0.5, heartbeat_interval=0.2, webhook_keys=(OLD_KEY, NEW_KEY)
    )
    server = replace(settings, callback_webhook_senders={"mock": (NEW_KEY,)})
    async with (
        serving(create_mock(mock)) as service_url,
        serving(create_app(server, client=client)) as callback_url,
        httpx.AsyncClient() as http,
    ):
        worker_settings = replace(
            settings, callback_base_url=callback_url, service_url=service_url, callback_webhook_sender="mock"
        )
        async with build_worker(worker_settings, client, http):
            inp = StagedRunInput(
                stages=2,
                actions=[Action.HEARTBEAT, Action.COMPLETE],
                time_to_request=0.1,
                time_to_callback=0.2,
                stage_timeout_seconds=60,
                faults=ServiceFaults(duplicate_deliveries=1),
            )
            handles = [await start_staged_run(client, settings.task_queue, replace(inp, mode=m)) for m in Mode]
            ends = [await wait_end(handle, timeout=60) for handle in handles]
    for mode, end in zip(Mode, ends, strict=True):
        assert end.result is not None, (mode, end)
        assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2, (mode, end.result.stages)
        assert all(s.attempts == 1 for s in end.result.stages), (mode, end.result.stages)
        # By the signed callbacks themselves, not by the reconcile path after refused ones.
        assert all(s.advanced_by is not AdvancedBy.RECONCILE for s in end.result.stages), (mode, end.result.stages)
