"""Pipelines end to end on the real dev server: the example files in every mode, results flowing from one stage
into the next, a worker-side secret that never enters history, on_failure, reconcile, and runs that ignore
edits of their file.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import temporalio.converter
from temporalio.client import Client

from app.gate.types import AdvancedBy, Mode, Outcome
from app.pipeline.file import load_pipeline
from app.pipeline.types import PipelineResult
from app.runtime.config import Settings
from tests.pipeline.harness import EXAMPLES, ended, pipeline_from, readable_history, rig

ADVANCED_BY = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.TOKEN: AdvancedBy.ACTIVITY, Mode.UPDATE: AdvancedBy.UPDATE}
QUICK = {"time_to_request": 0.1, "time_to_callback": 0.2, "action": "complete"}


@pytest.mark.parametrize("mode", list(Mode))
async def test_demo_example_in_every_mode(client: Client, settings: Settings, mode: Mode) -> None:
    pipeline = load_pipeline(EXAMPLES / "demo.yaml")
    async with rig(client, settings) as r:
        handle = await r.start(pipeline, QUICK, mode)
        end = await ended(handle)
    assert end.result is not None, end.error
    result = end.result
    assert [s.stage for s in result.stages] == ["stage1", "stage2", "stage3"]
    assert [s.outcome for s in result.stages] == [Outcome.COMPLETED] * 3
    assert {s.mode for s in result.stages} == {mode}
    assert {s.advanced_by for s in result.stages} == {ADVANCED_BY[mode]}
    assert result.continued_after == []
    assert result.digest == pipeline.digest
    for record in result.stages:
        assert record.attempts == 1
        assert record.result is not None
        # What the service was asked: the stage's own name and run, in the body the file describes.
        assert record.result["payload"] == {"workflow_id": handle.id, "stage": record.stage}
        if mode is not Mode.TOKEN:
            assert record.request_result == record.result["job_id"]  # answer_id: job_id


@pytest.mark.parametrize("mode", list(Mode))
async def test_transcode_publish_example_uses_stage_one_result(client: Client, settings: Settings, mode: Mode) -> None:
    pipeline = load_pipeline(EXAMPLES / "transcode_publish.yaml")
    async with rig(client, settings) as r:
        handle = await r.start(pipeline, {"video": "s3://in/talk.mov", "title": "Ten Years Of Callbacks"}, mode)
        end = await ended(handle)
        assert end.result is not None, end.error
        transcode, publish = end.result.stages
        assert (transcode.stage, publish.stage) == ("transcode", "publish")
        assert (transcode.outcome, publish.outcome) == (Outcome.COMPLETED, Outcome.COMPLETED)
        assert transcode.result is not None
        assert publish.result is not None
        job_id = transcode.result["job_id"]
        assert transcode.result["payload"] == {"source": "s3://in/talk.mov", "rendition": "1080p"}
        # Stage 2's body carried stage 1's result: the service published exactly the transcoded job.
        published = publish.result["payload"]
        assert published["asset"] == job_id
        assert published["title"] == "Ten Years Of Callbacks"
        assert published["url"] == f"https://media.example.invalid/{job_id}/ten-years-of-callbacks"
        # And the service's own record of the publish job says the same, with the gate's idempotency key.
        job = await r.job(publish.result["job_id"])
        assert job["idempotency_key"] == f"{handle.id}/{handle.result_run_id}/publish"
        assert job["final"]["result"]["payload"]["asset"] == job_id
        if mode is not Mode.TOKEN:
            assert publish.request_result == publish.result["job_id"]  # answer_id: publication_id


async def test_secret_header_is_filled_in_by_the_worker_and_never_in_history(
    client: Client, settings: Settings
) -> None:
    secret = "tok-" + "7f3c9a1b5e2d4c6f8a0b"
    pipeline = load_pipeline(EXAMPLES / "transcode_publish.yaml")
    async with rig(client, settings, worker_env={"PIPELINE_PUBLISH_TOKEN": secret}, publish_token=secret) as r:
        handle = await r.start(pipeline, mode=Mode.TOKEN)
        end = await ended(handle)
        history = readable_history((await handle.fetch_history()).to_json())
    # The mock refuses /publish without `Bearer <secret>`: a completed publish stage means the header arrived.
    assert end.result is not None, end.error
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2
    assert secret not in history
    # Payloads are searched decoded: the template is there (so the search can find things), the value is not.
    assert "Bearer ${env.PIPELINE_PUBLISH_TOKEN" in history


async def test_wrong_secret_is_refused_by_the_service_and_fails_the_stage(client: Client, settings: Settings) -> None:
    pipeline = load_pipeline(EXAMPLES / "transcode_publish.yaml")
    async with rig(client, settings, worker_env={"PIPELINE_PUBLISH_TOKEN": "wrong"}, publish_token="right") as r:
        end = await ended(await r.start(pipeline))
    assert end.error is not None
    assert end.error.type == "StageFailed"
    assert "refused the request with 401" in end.error.message


TWO_STAGES = """
version: 1
name: two-stages
stages:
  - name: first
    on_failure: {on_failure}
    request:
      url: "${{env.SERVICE_URL}}/request"
      body: {{callback_url: "${{callback_url}}", time_to_request: 0.1, time_to_callback: 0.2, action: {action}}}
    timeout: {timeout}
  - name: second
    request:
      url: "${{env.SERVICE_URL}}/request"
      body: {{callback_url: "${{callback_url}}", time_to_request: 0.1, time_to_callback: 0.2,
              payload: {{first: "${{stages.first.outcome}}"}}}}
"""


@pytest.mark.parametrize(
    ("action", "outcome"),
    [("fail", Outcome.FAILED), ("report_cancellation", Outcome.CANCELLED), ("ignore", Outcome.TIMED_OUT)],
)
async def test_on_failure_continue_goes_on(client: Client, settings: Settings, action: str, outcome: Outcome) -> None:
    pipeline = pipeline_from(TWO_STAGES.format(on_failure="continue", action=action, timeout=2))
    async with rig(client, settings) as r:
        end = await ended(await r.start(pipeline, {}, Mode.SIGNAL))
    assert end.result is not None, end.error
    first, second = end.result.stages
    assert (first.outcome, second.outcome) == (outcome, Outcome.COMPLETED)
    assert first.error
    assert end.result.continued_after == ["first"]
    assert second.result is not None
    assert second.result["payload"] == {"first": outcome.value}


@pytest.mark.parametrize("mode", list(Mode))
async def test_on_failure_fail_fails_the_run_with_the_typed_error(
    client: Client, settings: Settings, mode: Mode
) -> None:
    pipeline = pipeline_from(TWO_STAGES.format(on_failure="fail", action="fail", timeout=30))
    async with rig(client, settings) as r:
        end = await ended(await r.start(pipeline, {}, mode))
    assert end.error is not None
    assert end.error.type == "StageFailed"
    assert "simulated failure" in end.error.message
    partial = temporalio.converter.value_to_type(PipelineResult, end.error.details[0], [])
    assert [(s.stage, s.outcome) for s in partial.stages] == [("first", Outcome.FAILED)]  # second never ran


MISSING_ENV = """
version: 1
name: missing-env
stages:
  - name: call
    request:
      url: "${env.SERVICE_URL}/request"
      headers: {X-Api-Key: "${env.PIPELINE_NOT_SET_ANYWHERE}"}
      body: {callback_url: "${callback_url}"}
"""


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.TOKEN])
async def test_missing_env_var_fails_the_stage_clearly(client: Client, settings: Settings, mode: Mode) -> None:
    async with rig(client, settings) as r:
        end = await ended(await r.start(pipeline_from(MISSING_ENV), {}, mode))
    assert end.error is not None
    assert end.error.type == "StageFailed"
    assert "stage 'call': cannot build the request" in end.error.message
    assert "environment variable PIPELINE_NOT_SET_ANYWHERE is not set on the worker" in end.error.message
    partial = temporalio.converter.value_to_type(PipelineResult, end.error.details[0], [])
    assert partial.stages[0].attempts == 1  # not retried: it cannot get better


LOST = """
version: 1
name: lost-callback
stages:
  - name: lost
    timeout: 3
    request:
      url: "${env.SERVICE_URL}/request"
      body: {callback_url: "${callback_url}", idempotency_key: "${idempotency_key}", time_to_request: 0.1,
             time_to_callback: 0.2, lose_callbacks: true, payload: {n: "${input.n}"}}
    status:
      url: "${env.SERVICE_URL}/jobs?idempotency_key=${idempotency_key}"
      callback_at: 0.final
"""


@pytest.mark.parametrize("mode", list(Mode))
async def test_lost_callback_is_reconciled_from_the_status_url(client: Client, settings: Settings, mode: Mode) -> None:
    async with rig(client, settings) as r:
        end = await ended(await r.start(pipeline_from(LOST), {"n": 7}, mode))
    assert end.result is not None, end.error
    (record,) = end.result.stages
    assert (record.outcome, record.advanced_by) == (Outcome.COMPLETED, AdvancedBy.RECONCILE)
    assert record.result is not None
    assert record.result["payload"] == {"n": 7}


async def test_editing_the_file_after_start_does_not_change_the_run(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "slow.yaml"
    original = TWO_STAGES.format(on_failure="fail", action="complete", timeout=30).replace(
        "time_to_callback: 0.2,\n", "time_to_callback: 1.5,\n"
    )
    path.write_text(original)
    pipeline = load_pipeline(path)
    async with rig(client, settings) as r:
        handle = await r.start(pipeline, {}, Mode.SIGNAL)
        # While stage 1 runs: point stage 2 elsewhere and make stage 1 fail. The run already has its definition.
        path.write_text(original.replace("action: complete", "action: fail").replace("/request", "/nowhere"))
        end = await ended(handle)
    assert end.result is not None, end.error
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 2
    assert end.result.digest == pipeline.digest
    assert load_pipeline(path).digest != pipeline.digest
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    payload = json.loads(started.input.payloads[0].data)
    assert payload["pipeline"]["stages"][1]["request"]["url"].endswith("/request")


async def test_a_bad_definition_started_without_the_cli_fails_the_run_clearly(
    client: Client, settings: Settings
) -> None:
    """`temporal workflow start` with hand-written JSON skips the file checks: the workflow checks again."""
    good = load_pipeline(EXAMPLES / "transcode_publish.yaml")
    bad = replace(good, stages=[good.stages[1], good.stages[0]])  # publish (uses transcode) first
    async with rig(client, settings) as r:
        end = await ended(await r.start(bad, good.input_example))
    assert end.error is not None
    assert end.error.type == "InvalidInput"
    assert "stage 'publish' uses 'transcode', which does not come before it" in end.error.message
