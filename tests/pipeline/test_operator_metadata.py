"""What operators see, read back through Temporal's API from a real run waiting at its gate.

`describe` gives the static summary and details, the SDK's `__temporal_workflow_metadata` query (what the Web
UI and `temporal workflow metadata` ask) the current details, and the history the activity and timer
summaries. None of it may hold a secret: the worker's env values, the signing secret, the signed callback
URL (in token mode it carries the task token) or its signature.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle

from app.gate.types import SIGNAL_ADVANCE_STAGE, Mode
from app.pipeline.types import PipelineResult
from app.runtime.config import Settings
from tests.pipeline.harness import pipeline_from, readable_history, rig

WAIT_TIMEOUT = 30.0
METADATA_QUERY = "__temporal_workflow_metadata"

PIPELINE = """
version: 1
name: ops_view
description: Two stages against the service mock, the first with a secret in its header and query.
stages:
  - name: kyc
    timeout: 10m
    request:
      method: POST
      url: "${env.SERVICE_URL}/request?key=${env.API_TOKEN}"
      headers: {Authorization: "Bearer ${env.API_TOKEN}"}
      body:
        callback_url: "${callback_url}"
        idempotency_key: "${idempotency_key}"
        time_to_request: 0
        time_to_callback: 600
        action: complete
    answer_id: job_id
  - name: esign
    request:
      method: POST
      url: "https://esign.example.com/v1/envelopes"
      body: {callback_url: "${callback_url}"}
"""


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata: WorkflowMetadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return metadata.current_details


async def details_when(handle: WorkflowHandle[Any, Any], *facts: str) -> str:
    """The run's current details once they hold every fact (bounded wait)."""
    async with asyncio.timeout(WAIT_TIMEOUT):
        while True:
            text = await current_details(handle)
            if all(fact in text for fact in facts):
                return text
            await asyncio.sleep(0.1)


def summaries(history_json: str) -> dict[str, list[str]]:
    """User-metadata summaries of the history's activities and timers, decoded."""
    found: dict[str, list[str]] = {"activity": [], "timer": []}
    kinds = {"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED": "activity", "EVENT_TYPE_TIMER_STARTED": "timer"}
    for event in json.loads(history_json)["events"]:
        kind = kinds.get(event.get("eventType", ""))
        summary = event.get("userMetadata", {}).get("summary")
        if kind and summary:
            found[kind].append(json.loads(base64.b64decode(summary["data"])))  # a json/plain payload
    return found


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.TOKEN])
async def test_a_waiting_run_shows_stage_service_deadline_and_no_secret(
    client: Client, settings: Settings, mode: Mode
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    pipeline = pipeline_from(PIPELINE)
    async with rig(client, settings, worker_env={"API_TOKEN": token}) as r:
        handle: WorkflowHandle[object, PipelineResult] = await r.start(pipeline, mode=mode)
        try:
            await details_when(handle, "waiting for: the callback")
            # A refusal and a progress report, by hand, so the details show both.
            await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "no-such-stage"})
            await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "kyc", "status": "progress"})
            details = await details_when(handle, "progress events: 1", "last refused callback: unknown")
            description = await handle.describe()
            static_summary = await description.static_summary()
            static_details = await description.static_details()
            history_json = (await handle.fetch_history()).to_json()
            info = await handle.describe()
            key = f"{handle.id}/{info.run_id}/kyc"
            jobs = (await r.http.get(f"{r.service_url}/jobs", params={"idempotency_key": key})).json()
        finally:
            await handle.terminate("test done")

    found = summaries(history_json)
    [job] = jobs
    signed_url = job["callback_url"]
    assert signed_url.startswith("http://127.0.0.1:")  # what the service got: the capability itself
    seen = "\n".join([details, static_summary or "", static_details or "", *found["activity"], *found["timer"]])
    for secret in (token, signed_url, signed_url.split("?")[0], *settings.signing_secrets):
        assert secret not in seen
        assert secret not in readable_history(history_json)

    assert details.startswith(f"**stage 1 of 2 `kyc`** · mode `{mode.value}`")
    assert "- deadline: " in details
    assert "- since: " in details
    # Signal mode: the host the activity reported; token mode: the file's declaration (the env var's name).
    expected_service = "POST 127.0.0.1:" if mode is Mode.SIGNAL else "POST ${env.SERVICE_URL}"
    assert f"- service: {expected_service}" in details
    assert static_summary == "pipeline `ops_view` · mode " + mode.value + " · 2 stages"
    assert static_details is not None
    assert "`esign` · " in static_details
    assert "POST esign.example.com" in static_details
    assert any(s.startswith(f"request stage 1 of 2 `kyc` ({mode.value})") for s in found["activity"]), found
    if mode is Mode.SIGNAL:
        # v12: the run's one deadline timer, named by the stage that armed it, says later stages share it.
        assert any(
            s.startswith("stage 1 of 2 `kyc` timeout (deadline ") and s.endswith("; later stages share this timer")
            for s in found["timer"]
        ), found
