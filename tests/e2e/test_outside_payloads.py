"""No payload from outside fails a workflow task: what a person or another SDK sends ends the run as documented.

Each path gets garbage through the real `temporal` CLI (or the SDK's client, for payloads the CLI cannot make):
token-mode activity completions, the request activity's completion in signal mode, signals and updates. Each run
ends as docs/gate.md says within the stage's timeout, its status query answers, and its history holds no
`WorkflowTaskFailed`. (Pipelines: tests/pipeline/test_pipeline_outside_payloads.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from app.demo.payloads import (
    ACTIVITY_AWAIT_STAGE_CALLBACK,
    ACTIVITY_REQUEST_STAGE,
    QUERY_STATUS,
    Action,
    RunResult,
    RunStatus,
    StagedRunInput,
)
from app.gate.types import SIGNAL_ADVANCE_STAGE, UPDATE_ADVANCE_STAGE, AdvancedBy, Mode, Outcome, WaitingFor
from app.starter import start_staged_run
from tests.outside import started_activity_id, task_failures, temporal
from tests.stack import Stack, wait_end, wait_status

STAGE_TIMEOUT = 30.0  # a completion ends the stage long before
SHORT_TIMEOUT = 3.0  # signal/update garbage: the stage's own timeout ends the run
RECONCILE_MARGIN = 20.0  # the reconcile at the deadline asks the service (retried ~15 s when it is down)
# Not JSON: what another SDK might send (the CLI only sends JSON).
BOGUS = RawValue(Payload(metadata={"encoding": b"binary/bogus"}, data=b"\xff\x00garbage"))
BYTES = RawValue(Payload(metadata={"encoding": b"binary/plain"}, data=b"\xff\x00garbage"))


def _waiting_token_stage() -> StagedRunInput:
    # One stage whose service never calls back: it waits until something from outside ends it.
    return StagedRunInput(mode=Mode.TOKEN, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=STAGE_TIMEOUT)


async def _stage_record(handle: WorkflowHandle[Any, RunResult]) -> Any:
    status: RunStatus = await handle.query(QUERY_STATUS, result_type=RunStatus)
    (record,) = status.stages
    return record


# (--result, outcome, the record's result or a piece of its error)
DONE = [
    ('{"status":"completed"}', None),
    ('"done"', {"value": "done"}),
    ("null", None),
    ('{"approved": true, "by": "ops"}', {"approved": True, "by": "ops"}),
    ("[1, 2]", {"value": [1, 2]}),
    ("42", {"value": 42}),
    ('{"status": "completed", "result": {"k": 1}, "stage": 1}', {"k": 1}),
]
NOT_DONE = [
    ('{"status": "failed", "error": "refused by hand"}', Outcome.FAILED, "refused by hand", "StageFailed"),
    ('{"status": "cancelled"}', Outcome.CANCELLED, "cancelled", "StageCancelled"),
    ('{"status": "progress"}', Outcome.FAILED, "'progress' cannot be reported", "StageFailed"),
    ('{"status": "completd"}', Outcome.FAILED, "status must be one of", "StageFailed"),
    ('{"status": "completed", "stage": 2}', Outcome.FAILED, "names stage 2", "StageFailed"),
    ('{"status": "completed", "statsu": 1}', Outcome.FAILED, "unknown field(s) statsu", "StageFailed"),
    ('{"attempt": "x", "callback_at": 1}', Outcome.FAILED, "does not fit StageCompletion", "StageFailed"),
]


async def _complete_by_cli(temporal_cli: str, address: str, handle: WorkflowHandle[Any, Any], result: str) -> None:
    activity_id = await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)
    done = await temporal(
        temporal_cli, address, "activity", "complete",
        "--workflow-id", handle.id, "--activity-id", activity_id, "--result", result,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("result", "expected"), DONE, ids=[r for r, _ in DONE])
async def test_token_completion_that_means_done_advances_the_stage_as_manual(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, result: str, expected: Any
) -> None:
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting_token_stage())
    await _complete_by_cli(temporal_cli, temporal_address, handle, result)
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    assert end.result is not None, end
    (record,) = end.result.stages
    assert (record.outcome, record.advanced_by, record.result) == (Outcome.COMPLETED, AdvancedBy.MANUAL, expected)
    assert record.callback_at
    assert record.attempts == 1
    assert (await _stage_record(handle)).outcome is Outcome.COMPLETED  # the query answers after the end too
    assert await task_failures(handle) == []


@pytest.mark.parametrize(("result", "outcome", "says", "error_type"), NOT_DONE, ids=[c[0] for c in NOT_DONE])
async def test_token_completion_the_gate_cannot_use_ends_the_stage_with_a_clear_error(
    client: Client,
    stack: Stack,
    temporal_cli: str,
    temporal_address: str,
    result: str,
    outcome: Outcome,
    says: str,
    error_type: str,
) -> None:
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting_token_stage())
    await _complete_by_cli(temporal_cli, temporal_address, handle, result)
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    assert end.error_type == error_type, end
    assert says in (end.error_message or "")
    record = await _stage_record(handle)
    assert (record.outcome, record.advanced_by) == (outcome, AdvancedBy.MANUAL)
    assert await task_failures(handle) == []


@pytest.mark.parametrize("payload", [BOGUS, BYTES], ids=["unknown-encoding", "bytes"])
async def test_token_completion_that_is_not_json_fails_the_stage(
    client: Client, stack: Stack, payload: RawValue
) -> None:
    """Another SDK's payload (the CLI only sends JSON): the client's own async-completion call."""
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting_token_stage())
    activity_id = await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)
    await client.get_async_activity_handle(workflow_id=handle.id, run_id=None, activity_id=activity_id).complete(
        payload
    )
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    assert end.error_type == "StageFailed", end
    assert "completed with a result the gate cannot use" in (end.error_message or "")
    record = await _stage_record(handle)
    assert (record.outcome, record.advanced_by) == (Outcome.FAILED, AdvancedBy.MANUAL)
    assert await task_failures(handle) == []


async def test_signal_mode_request_completed_by_hand_is_the_services_answer(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str
) -> None:
    """The request activity completed by hand with a bare string: the stage is accepted with it and waits on."""
    inp = StagedRunInput(mode=Mode.SIGNAL, stages=1, actions=[Action.IGNORE], time_to_request=20.0)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    activity_id = await started_activity_id(handle, ACTIVITY_REQUEST_STAGE)
    done = await temporal(
        temporal_cli, temporal_address, "activity", "complete",
        "--workflow-id", handle.id, "--activity-id", activity_id, "--result", '"job-by-hand"',
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = await wait_status(handle, lambda s: s.waiting_for is WaitingFor.CALLBACK)
    assert status.stages[0].request_result == "job-by-hand"
    await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": 1, "callback_id": "cb-1"})
    end = await wait_end(handle, timeout=inp.stage_timeout_seconds)
    assert end.result is not None, end
    assert end.result.stages[0].outcome is Outcome.COMPLETED
    assert await task_failures(handle) == []


async def test_signal_mode_request_completed_with_bytes_fails_the_stage(client: Client, stack: Stack) -> None:
    inp = StagedRunInput(mode=Mode.SIGNAL, stages=1, actions=[Action.IGNORE], time_to_request=20.0)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    activity_id = await started_activity_id(handle, ACTIVITY_REQUEST_STAGE)
    await client.get_async_activity_handle(workflow_id=handle.id, run_id=None, activity_id=activity_id).complete(BOGUS)
    end = await wait_end(handle, timeout=inp.stage_timeout_seconds)
    assert end.error_type == "StageFailed", end
    assert "its request activity was completed with a result the gate cannot use" in (end.error_message or "")
    assert await task_failures(handle) == []


@pytest.mark.parametrize("mode", [Mode.SIGNAL, Mode.TOKEN])
async def test_garbage_signals_are_refused_and_the_stage_times_out(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, mode: Mode
) -> None:
    inp = StagedRunInput(mode=mode, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=SHORT_TIMEOUT)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    for text in ('{"statsu": 1}', '"garbage"', "[1, 2]", '{"stage": 0}', "true", "null"):
        sent = await temporal(
            temporal_cli, temporal_address, "workflow", "signal",
            "--workflow-id", handle.id, "--name", SIGNAL_ADVANCE_STAGE, "--input", text,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
    await handle.signal(SIGNAL_ADVANCE_STAGE, BOGUS)  # not decodable: the SDK drops it (an error in the log)
    await handle.signal(SIGNAL_ADVANCE_STAGE, args=[1, 2])  # two arguments: read as a list, refused
    status = await wait_status(handle, lambda s: s.rejected == 7)
    assert status.stages[0].outcome is Outcome.PENDING
    end = await wait_end(handle, timeout=SHORT_TIMEOUT + RECONCILE_MARGIN)
    assert end.error_type == "StageTimedOut", end
    assert await task_failures(handle) == []


async def test_garbage_updates_are_rejected_and_the_stage_times_out(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str
) -> None:
    inp = StagedRunInput(mode=Mode.UPDATE, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=SHORT_TIMEOUT)
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    await wait_status(handle, lambda s: s.waiting_for is WaitingFor.CALLBACK)
    refusals = {
        '{"statsu": 1}': "InvalidCallback",
        '"garbage"': "UnknownStage",  # a stage name this run does not have
        "[1, 2]": "InvalidCallback",
        '{"stage": 0}': "InvalidCallback",
        "null": "InvalidCallback",
    }
    for text, error_type in refusals.items():
        sent = await temporal(
            temporal_cli, temporal_address, "workflow", "update", "execute",
            "--workflow-id", handle.id, "--name", UPDATE_ADVANCE_STAGE, "--input", text,
        )  # fmt: skip
        assert sent.returncode != 0, f"{text}: {sent.stdout}"
        assert f"type: {error_type}" in sent.stderr, sent.stderr
    for args in ([BOGUS], [1, 2]):
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(UPDATE_ADVANCE_STAGE, args=args)
    status = await wait_status(handle, lambda s: s.current_stage == 1)
    assert status.stages[0].outcome is Outcome.PENDING
    end = await wait_end(handle, timeout=SHORT_TIMEOUT + RECONCILE_MARGIN)
    assert end.error_type == "StageTimedOut", end
    assert await task_failures(handle) == []


@pytest.mark.parametrize("detail", [None, '{"why": "by hand"}', '"just text"'], ids=["bare", "object", "string"])
async def test_token_activity_failed_by_cli_fails_the_stage_with_the_reason(
    client: Client, stack: Stack, temporal_cli: str, temporal_address: str, detail: str | None
) -> None:
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting_token_stage())
    activity_id = await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)
    extra = ["--detail", detail] if detail is not None else []
    failed = await temporal(
        temporal_cli, temporal_address, "activity", "fail",
        "--workflow-id", handle.id, "--activity-id", activity_id, "--reason", "rejected by ops", *extra,
    )  # fmt: skip
    assert failed.returncode == 0, failed.stderr
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    assert end.error_type == "StageFailed", end
    assert "rejected by ops" in (end.error_message or "")
    record = await _stage_record(handle)
    assert (record.outcome, record.advanced_by) == (Outcome.FAILED, AdvancedBy.ACTIVITY)
    assert await task_failures(handle) == []


async def test_token_activity_failed_with_details_not_json_fails_the_stage(client: Client, stack: Stack) -> None:
    """Another SDK's failure details (the CLI sends only JSON): the client's own async-completion `fail`."""
    handle = await start_staged_run(client, stack.settings.task_queue, _waiting_token_stage())
    activity_id = await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)
    activity = client.get_async_activity_handle(workflow_id=handle.id, run_id=None, activity_id=activity_id)
    await activity.fail(ApplicationError("rejected by another SDK", BOGUS, type="Rejected", non_retryable=True))
    end = await wait_end(handle, timeout=STAGE_TIMEOUT)
    assert end.error_type == "StageFailed", end
    assert "rejected by another SDK" in (end.error_message or "")
    assert await task_failures(handle) == []
