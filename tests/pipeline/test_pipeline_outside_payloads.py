"""Pipelines take what comes from outside like the demo does: a token stage completed by hand never fails a task.

`temporal activity complete` (the real CLI) on a waiting token-mode pipeline stage: a JSON value completes it as
`manual` and its result reaches the next stage's request; a payload the gate cannot use fails the stage, and
`on_failure: continue` goes on. The run's history holds no `WorkflowTaskFailed`.
"""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.common import RawValue

from app.gate.types import AdvancedBy, Mode, Outcome
from app.pipeline.types import ACTIVITY_PIPELINE_REQUEST
from app.runtime.config import Settings
from tests.outside import started_activity_id, task_failures, temporal
from tests.pipeline.harness import ended, pipeline_from, rig

WAITS = """
version: 1
name: waits-for-a-person
stages:
  - name: review
    on_failure: continue
    timeout: 30
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", time_to_request: 0.1, action: ignore}
  - name: publish
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", time_to_request: 0.1, time_to_callback: 0.2,
             payload: {review: "${stages.review.outcome}", by: "${stages.review.result.by}"}}
"""
CONTINUE_ON_ANY = WAITS.replace('by: "${stages.review.result.by}"', 'error: "${stages.review.error}"')


async def test_token_stage_completed_by_hand_with_json_feeds_the_next_stage(
    client: Client, settings: Settings, temporal_cli: str, temporal_address: str
) -> None:
    async with rig(client, settings) as r:
        handle = await r.start(pipeline_from(WAITS), {}, Mode.TOKEN)
        activity_id = await started_activity_id(handle, ACTIVITY_PIPELINE_REQUEST)
        done = await temporal(
            temporal_cli, temporal_address, "activity", "complete",
            "--workflow-id", handle.id, "--activity-id", activity_id, "--result", '{"approved": true, "by": "ops"}',
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        end = await ended(handle)
        assert await task_failures(handle) == []
    assert end.result is not None, end.error
    review, publish = end.result.stages
    assert (review.outcome, review.advanced_by, review.result) == (
        Outcome.COMPLETED,
        AdvancedBy.MANUAL,
        {"approved": True, "by": "ops"},
    )
    assert publish.outcome is Outcome.COMPLETED
    assert publish.result is not None
    assert publish.result["payload"] == {"review": "completed", "by": "ops"}


@pytest.mark.parametrize(
    ("result", "says"),
    [
        ('{"status": "progress"}', "'progress' cannot be reported"),
        (RawValue(Payload(metadata={"encoding": b"binary/bogus"}, data=b"\xff")), "cannot read"),
    ],
    ids=["progress-by-cli", "not-json-by-client"],
)
async def test_token_stage_completed_with_what_the_gate_cannot_use_fails_and_the_run_goes_on(
    client: Client, settings: Settings, temporal_cli: str, temporal_address: str, result: str | RawValue, says: str
) -> None:
    async with rig(client, settings) as r:
        handle = await r.start(pipeline_from(CONTINUE_ON_ANY), {}, Mode.TOKEN)
        activity_id = await started_activity_id(handle, ACTIVITY_PIPELINE_REQUEST)
        if isinstance(result, str):
            done = await temporal(
                temporal_cli, temporal_address, "activity", "complete",
                "--workflow-id", handle.id, "--activity-id", activity_id, "--result", result,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        else:
            activity = client.get_async_activity_handle(workflow_id=handle.id, run_id=None, activity_id=activity_id)
            await activity.complete(result)
        end = await ended(handle)
        assert await task_failures(handle) == []
    assert end.result is not None, end.error
    review, publish = end.result.stages
    assert (review.outcome, review.advanced_by) == (Outcome.FAILED, AdvancedBy.MANUAL)
    assert says in (review.error or "")
    assert end.result.continued_after == ["review"]
    assert publish.outcome is Outcome.COMPLETED
    assert publish.result is not None
    assert publish.result["payload"]["review"] == "failed"
