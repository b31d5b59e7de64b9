"""The `reconcile-before-timeout` patch: v1 and v2 histories both replay, and the patch is what makes that so."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from app.demo.workflow import PATCH_RECONCILE_BEFORE_TIMEOUT, StagedCallbackWorkflow
from app.gate import search_attributes, stage_gate
from app.gate.run_attributes import PATCH_NO_STAGE_UPSERTS
from app.gate.stage_gate import (
    PATCH_HANDOFF_CHECK,
    PATCH_HOOK_HANDOFF_CHECK,
    PATCH_RECONCILE_EVERY_TIMEOUT,
    PATCH_RECOVER_AFTER_REQUEST_TIMEOUT,
    StageGate,
)
from tests.replay.changed_workflow import UnpatchedV2Workflow
from tests.replay.layout import HISTORY_DIR, workflow_id_from_file


def _history(name: str) -> WorkflowHistory:
    path = HISTORY_DIR / f"{name}.json"
    return WorkflowHistory.from_json(workflow_id_from_file(Path(path)), path.read_text())


def _activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def _has_patch_marker(history: WorkflowHistory, patch: str = PATCH_RECONCILE_BEFORE_TIMEOUT) -> bool:
    return any(
        e.HasField("marker_recorded_event_attributes") and patch.encode() in e.SerializeToString()
        for e in history.events
    )


@pytest.mark.parametrize("mode", ["signal", "token"])
async def test_old_and_new_timeouts_both_replay(mode: str) -> None:
    old, new = _history(f"v1-{mode}-ignore"), _history(f"v2-{mode}-ignore")
    assert "check_stage" not in _activities(old)
    assert not _has_patch_marker(old)
    assert "check_stage" in _activities(new)
    assert _has_patch_marker(new)
    for history in (old, new):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)


@pytest.mark.parametrize("mode", ["signal", "token"])
async def test_without_the_patch_old_runs_would_break(mode: str) -> None:
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[UnpatchedV2Workflow]).replay_workflow(_history(f"v1-{mode}-ignore"))


@pytest.mark.parametrize("mode", ["signal", "update"])
async def test_request_timeout_recovery_is_recorded_behind_its_patch(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v4 runs whose request answered too late carry the patch marker; code without the recovery cannot replay them."""
    history = _history(f"v4-{mode}-request-too-late")
    assert any(
        e.HasField("marker_recorded_event_attributes")
        and PATCH_RECOVER_AFTER_REQUEST_TIMEOUT.encode() in e.SerializeToString()
        for e in history.events
    )
    await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)

    async def never(*_: object) -> bool:
        return False

    monkeypatch.setattr(StageGate, "_recover_after_request_timeout", never)
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)


def _upserted_keys(history: WorkflowHistory) -> list[str]:
    return [
        key
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
        for key in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]


@pytest.mark.parametrize("mode", ["signal", "token", "update"])
async def test_old_and_new_stage_upserts_both_replay(mode: str) -> None:
    """v4 runs upsert StagegateStage per stage; v6 runs carry the patch marker instead, and upsert no stage."""
    old, new = _history(f"v4-{mode}-complete"), _history(f"v6-{mode}-complete")
    assert _upserted_keys(old).count(search_attributes.STAGE.name) == 2
    assert search_attributes.STAGE.name not in _upserted_keys(new)
    assert any(PATCH_NO_STAGE_UPSERTS.encode() in e.SerializeToString() for e in new.events)
    for history in (old, new):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)


async def test_token_handoff_check_is_recorded_behind_its_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    """v5: a token stage whose worker died before the request was asked about and requested again, behind the patch;
    v4 token runs (no marker) replay without the check's timer, and code without the check cannot replay v5."""
    killed = _history("v5-token-worker-killed-before-request")
    assert _has_patch_marker(killed, PATCH_HANDOFF_CHECK)
    assert _activities(killed) == ["await_stage_callback", "check_stage", "await_stage_callback"]
    old = _history("v4-token-complete")
    assert not _has_patch_marker(old, PATCH_HANDOFF_CHECK)
    for history in (killed, old, _history("v5-token-complete")):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)

    async def no_check(self: StageGate, record: object, handle: object, *_: object, **__: object) -> object:
        return handle

    monkeypatch.setattr(StageGate, "_confirm_handoff", no_check)
    for name in ("v5-token-worker-killed-before-request", "v5-token-complete"):
        with pytest.raises(NondeterminismError):
            await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(_history(name))


@pytest.mark.parametrize("mode", ["signal", "token", "update"])
async def test_retries_out_of_time_are_reconciled_behind_their_patch(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v5: a request that gave up before the deadline waits out the stage and reconciles, behind the patch."""
    history = _history(f"v5-{mode}-request-retries-out-of-time")
    assert _has_patch_marker(history, PATCH_RECONCILE_EVERY_TIMEOUT)
    await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)

    monkeypatch.setattr(StageGate, "_ran_out_of_time", staticmethod(lambda err: False))
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)


async def test_hook_handoff_check_is_recorded_behind_its_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    """v9 (pipeline histories p6): a token-mode stage waiting on a source records the patch, a named activity and
    the check's timer; p5's run of the same pipeline has none and replays; p6's needs the check to replay."""
    from app.pipeline.workflow import PipelineWorkflow
    from tests.replay.layout import PIPELINE_HISTORY_DIR

    def pipeline_history(name: str) -> WorkflowHistory:
        path = PIPELINE_HISTORY_DIR / f"{name}.json"
        return WorkflowHistory.from_json(workflow_id_from_file(path), path.read_text())

    old, new = pipeline_history("p5-stripe-style-token"), pipeline_history("p6-stripe-style-token")
    assert not _has_patch_marker(old, PATCH_HOOK_HANDOFF_CHECK)
    assert _has_patch_marker(new, PATCH_HOOK_HANDOFF_CHECK)
    ids = [
        e.activity_task_scheduled_event_attributes.activity_id
        for e in new.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert ids == ["stage-pay-request-1"]
    for history in (old, new):
        await Replayer(workflows=[PipelineWorkflow]).replay_workflow(history)
    monkeypatch.setattr(stage_gate, "PATCH_HOOK_HANDOFF_CHECK", "stagegate-hook-handoff-check-not-recorded")
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[PipelineWorkflow]).replay_workflow(new)


@pytest.mark.parametrize("mode", ["signal", "token", "update"])
async def test_shared_deadline_timer_is_recorded_behind_its_patch(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """v12 (histories v9): stage deadlines (and token hand-off checks) share one timer, never cancelled when a stage
    advances; v7 runs of the same scenario (a timer per stage, cancelled) replay; v9's need the patch to replay."""

    def timer_events(history: WorkflowHistory) -> list[str]:
        kinds = (e.WhichOneof("attributes") or "" for e in history.events)
        return [kind for kind in kinds if kind.startswith("timer_")]

    old, new = _history(f"v7-{mode}-complete"), _history(f"v9-{mode}-complete")
    assert not _has_patch_marker(old, stage_gate.PATCH_SHARED_DEADLINE_TIMER)
    assert timer_events(old).count("timer_canceled_event_attributes") == 2
    assert _has_patch_marker(new, stage_gate.PATCH_SHARED_DEADLINE_TIMER)
    assert timer_events(new) == ["timer_started_event_attributes"]
    for history in (old, new):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(history)
    monkeypatch.setattr(stage_gate, "PATCH_SHARED_DEADLINE_TIMER", "stagegate-shared-deadline-timer-not-recorded")
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[StagedCallbackWorkflow]).replay_workflow(new)
