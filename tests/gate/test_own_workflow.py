"""A larger own-workflow example, for real: the user's workflow and service, the gate, every mode.

Real parts only: the session's Temporal dev server, an in-process worker with the gate's interceptor, the
callback server and the user's service both on loopback HTTP (uvicorn, on the test's loop).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from app.callbacks.server import create_app
from app.gate.stage_activity import StageGateInterceptor
from app.gate.types import QUERY_GATE_STATUS, AdvancedBy, GateStatus, Mode, Outcome, WaitingFor
from app.runtime.config import Settings
from app.worker import callback_signer
from tests.asgi import serving
from tests.gate.kyc_esign_service import ServiceLog, create_service
from tests.gate.onboarding_activities import OnboardingActivities, OnboardingInput, OnboardingResult
from tests.gate.onboarding_workflow import OnboardingWorkflow
from tests.signals import temporal_signal

RUN_TIMEOUT = 60.0
ADVANCED_BY = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.TOKEN: AdvancedBy.ACTIVITY, Mode.UPDATE: AdvancedBy.UPDATE}


@dataclass(frozen=True)
class Onboarding:
    """The running pieces one test uses."""

    client: Client
    task_queue: str
    service: ServiceLog


@pytest.fixture
async def onboarding(client: Client, settings: Settings) -> AsyncIterator[Onboarding]:
    service = ServiceLog()
    async with serving(create_app(settings, client=client)) as callback_url:
        gate_settings = replace(settings, callback_base_url=callback_url)
        async with serving(create_service(service)) as service_url, httpx.AsyncClient() as http:
            activities = OnboardingActivities(http, service_url)
            worker = Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[OnboardingWorkflow],
                activities=[activities.start_kyc_check, activities.send_for_signature],
                interceptors=[StageGateInterceptor(callback_signer(gate_settings))],
                max_cached_workflows=0,  # every workflow task replays the history: determinism is checked too
            )
            async with worker:
                yield Onboarding(client=client, task_queue=settings.task_queue, service=service)


@pytest.mark.parametrize(
    ("mode", "esign_mode"),
    [
        (Mode.SIGNAL, None),
        (Mode.TOKEN, None),
        (Mode.UPDATE, None),
        (Mode.SIGNAL, Mode.TOKEN),
        (Mode.UPDATE, Mode.SIGNAL),
    ],
)
async def test_two_named_stages_on_two_endpoints(onboarding: Onboarding, mode: Mode, esign_mode: Mode | None) -> None:
    workflow_id = f"onboarding-{uuid.uuid4().hex[:8]}"
    handle = await onboarding.client.start_workflow(
        OnboardingWorkflow.run,
        OnboardingInput(person="ada lovelace", document="contract-7", mode=mode, esign_mode=esign_mode),
        id=workflow_id,
        task_queue=onboarding.task_queue,
    )
    result: OnboardingResult = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)

    kyc, esign = result.kyc, result.esign
    assert (kyc.stage, esign.stage) == ("kyc", "esign")
    assert (kyc.outcome, esign.outcome) == (Outcome.COMPLETED, Outcome.COMPLETED)
    expected_esign_mode = esign_mode or mode
    assert (kyc.mode, esign.mode) == (mode, expected_esign_mode)
    assert (kyc.advanced_by, esign.advanced_by) == (ADVANCED_BY[mode], ADVANCED_BY[expected_esign_mode])
    # Stage 2 used stage 1's result: the name the KYC check verified is who signed.
    assert kyc.result is not None
    assert kyc.result["verified_name"] == "Ada Lovelace"
    assert esign.result == {"signed_by": "Ada Lovelace"}
    # Two different endpoints, each with the callback URL where that service wants it, and a stable key.
    (kyc_path, kyc_body, kyc_key), (esign_path, esign_body, esign_key) = onboarding.service.requests
    assert (kyc_path, esign_path) == ("kyc", "esign")
    assert f"/callbacks/{mode.value}?" in kyc_body["webhook_url"]
    assert f"/callbacks/{expected_esign_mode.value}?" in esign_body["notify"]["url"]
    assert kyc_key == f"{workflow_id}/{handle.result_run_id}/kyc"
    assert esign_key == f"{workflow_id}/{handle.result_run_id}/esign"
    # The service records each callback's answer once it has it: the run may have finished a moment earlier.
    async with asyncio.timeout(10):
        while len(onboarding.service.callback_statuses) < 2:
            await asyncio.sleep(0.05)
    assert onboarding.service.callback_statuses == [
        200 if m is Mode.UPDATE else 202 for m in (mode, expected_esign_mode)
    ]
    for record in (kyc, esign):
        assert record.attempts == 1
        assert record.requested_at
        assert record.callback_at
        assert record.advanced_at
    if expected_esign_mode is not Mode.TOKEN:
        assert str(esign.request_result).startswith("env_")
    # The gate's own query works for any workflow that uses it.
    status = await handle.query(QUERY_GATE_STATUS, result_type=GateStatus)
    assert status.waiting_for is WaitingFor.NOTHING
    assert [s.stage for s in status.stages] == ["kyc", "esign"]


@pytest.mark.parametrize("mode", list(Mode))
async def test_failed_stage_is_a_value_the_workflow_turns_into_its_error(onboarding: Onboarding, mode: Mode) -> None:
    onboarding.service.fail_esign = True
    handle = await onboarding.client.start_workflow(
        OnboardingWorkflow.run,
        OnboardingInput(person="grace hopper", document="contract-8", mode=mode),
        id=f"onboarding-{uuid.uuid4().hex[:8]}",
        task_queue=onboarding.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "StageFailed"
    assert "signer declined" in cause.message
    status = await handle.query(QUERY_GATE_STATUS, result_type=GateStatus)
    assert [(s.stage, s.outcome) for s in status.stages] == [("kyc", Outcome.COMPLETED), ("esign", Outcome.FAILED)]


async def test_named_stages_advanced_by_hand_with_temporal_cli(
    onboarding: Onboarding, temporal_cli: str, temporal_address: str
) -> None:
    """`--input '{"stage": "kyc"}'` and the bare `--input '"esign"'` advance a user's named stages."""
    onboarding.service.silent = True
    handle = await onboarding.client.start_workflow(
        OnboardingWorkflow.run,
        OnboardingInput(person="alan turing", document="contract-9"),
        id=f"onboarding-{uuid.uuid4().hex[:8]}",
        task_queue=onboarding.task_queue,
    )
    for stage, text in (("kyc", '{"stage": "kyc"}'), ("esign", '"esign"')):
        async with asyncio.timeout(20):
            while True:
                status = await handle.query(QUERY_GATE_STATUS, result_type=GateStatus)
                if status.current_stage == stage and status.waiting_for is WaitingFor.CALLBACK:
                    break
                await asyncio.sleep(0.1)
        await temporal_signal(temporal_cli, temporal_address, handle.id, text)
    result: OnboardingResult = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    assert (result.kyc.advanced_by, result.esign.advanced_by) == (AdvancedBy.MANUAL, AdvancedBy.MANUAL)
    assert (result.kyc.outcome, result.esign.outcome) == (Outcome.COMPLETED, Outcome.COMPLETED)
    assert onboarding.service.requests[1][1]["signer_name"] == "alan turing"  # no KYC result: the input's name
