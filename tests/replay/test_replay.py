"""Replay every committed history against the current workflow code: no server, a few seconds.

A failure here means the workflow no longer makes the same commands for a run it already recorded, so a
worker with this code would fail the workflow tasks of runs started by the old code. Make the change
replay-safe (e.g. behind `workflow.patched`) and record the new behaviour under a new tag
(`just histories --tag v4`). Do not re-record over the failing files; delete an old tag's files only once
no run of that version can exist anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import cache
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadConverter
from temporalio.worker import Interceptor, Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from app.demo.workflow import StagedCallbackWorkflow
from app.gate import search_attributes
from app.runtime.tracing import Tracing
from app.worker import SANDBOX_RESTRICTIONS
from tests.replay.changed_workflow import ChangedStagedCallbackWorkflow
from tests.replay.layout import HISTORY_DIR, REPLAYED_OK, committed_histories, workflow_id_from_file

# Four tags of what `python -m tests.replay.record` writes. v1 (18): 5 actions x 2 modes (signal, token), early and
# duplicated callbacks in both modes, a stage advanced by hand, a future-stage signal, a two-run continue-as-new
# chain. v2 (20): the same plus a lost callback reconciled in both modes. v3 (31, the gate layer): all of v2 also
# in update mode (actions, early, duplicate, lost-callback), plus mixed per-stage modes (signal, token, update), a
# stage advanced by hand with a bare int (`--input 1`), and a refused `"garbage"` signal before advancing.
# v4 (35, patch "stagegate-recover-after-request-timeout"): all of v3 plus a request answered after the stage's
# budget, in signal and update mode, with the callback in time or lost (reconciled).
# v5 (43, patches "stagegate-handoff-check" and "stagegate-reconcile-every-timeout"): all of v4 plus the worker
# SIGKILLed before the request in every mode and after the hand-off in token mode, a token-mode hand-off check
# that finds a finished job whose callback was lost, and request retries that ran out of the stage's time.
# v6 (35, patch "stagegate-no-stage-upserts"): all of v4, without a search attribute upsert per stage.
# v8 (6, no new commands; recorded with `--only`): token stages completed by hand with `temporal activity complete`
# (JSON that means done, the failed form, what the gate cannot use, a payload that is not JSON) and a signal-mode
# request activity completed by hand; the gate before v8 cannot replay them (its decode failed the task).
# An empty or half-deleted folder must not pass.
MIN_HISTORIES = 182


@cache  # parsed once for the three tests below (about a second of protobuf JSON parsing each); never mutated
def _load() -> dict[Path, WorkflowHistory]:
    paths = committed_histories()
    assert len(paths) >= MIN_HISTORIES, (
        f"expected at least {MIN_HISTORIES} committed histories in {HISTORY_DIR}, found {len(paths)}: "
        "run `just histories` (python -m tests.replay.record)"
    )
    histories = {path: WorkflowHistory.from_json(workflow_id_from_file(path), path.read_text()) for path in paths}
    run_ids = [h.run_id for h in histories.values()]
    assert len(set(run_ids)) == len(run_ids), "two history files hold the same run"
    return histories


async def _replay(
    workflow: type,
    histories: dict[Path, WorkflowHistory],
    *,
    interceptors: Sequence[Interceptor] = (),
    sandboxed: bool = True,
) -> dict[Path, Exception]:
    """Replay all histories in one replayer; the failure of each history that failed, by file.

    `sandboxed=False` skips the sandbox's per-run re-import (most of a replay's cost) where the test asks only
    about commands, not about what the workflow may import: the production worker's sandbox is replayed once.
    """
    by_run_id = {h.run_id: path for path, h in histories.items()}
    fed: list[Path] = []

    async def feed() -> AsyncIterator[WorkflowHistory]:
        for path, history in histories.items():
            fed.append(path)
            yield history

    replayer = Replayer(
        workflows=[workflow],
        interceptors=interceptors,
        workflow_runner=(
            SandboxedWorkflowRunner(restrictions=SANDBOX_RESTRICTIONS) if sandboxed else UnsandboxedWorkflowRunner()
        ),
    )
    results = await replayer.replay_workflows(feed(), raise_on_replay_failure=False)
    assert fed == list(histories), "the replayer did not take every history"
    return {by_run_id[run_id]: err for run_id, err in results.replay_failures.items()}


def _reached_stage_1(history: WorkflowHistory) -> bool:
    """Whether the run started stage 1 (continued runs start later).

    Before v6 a stage began with its `StagegateStage` upsert; since, with its stage activity, whose input names it.
    """
    key = search_attributes.STAGE.name
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payloads = event.activity_task_scheduled_event_attributes.input.payloads
            request = PayloadConverter.default.from_payloads(list(payloads[:1]))[0] if payloads else None
            return isinstance(request, dict) and request.get("stage") == 1
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        if key in fields and PayloadConverter.default.from_payloads([fields[key]])[0] == 1:
            return True
    return False


def _describe(err: Exception) -> str:
    """Type and the start of the message (the SDK's messages carry whole stack traces)."""
    return f"{type(err).__name__}: {str(err)[:300]}"


def _is_continuation(history: WorkflowHistory) -> bool:
    return bool(history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id)


async def test_committed_histories_replay(request: pytest.FixtureRequest) -> None:
    histories = _load()
    failures = await _replay(StagedCallbackWorkflow, histories)
    assert not failures, "histories that no longer replay:\n" + "\n".join(
        f"  {path.name}: {_describe(err)}" for path, err in sorted(failures.items())
    )
    request.config.stash[REPLAYED_OK] = len(histories)


async def test_committed_histories_replay_on_a_traced_worker() -> None:
    """Tracing adds headers, never commands: with Temporal's tracing interceptor on, every history still replays.

    (These runs were recorded untraced; tests/app/test_tracing.py replays traced runs and checks no span is made.)
    """
    exporter = InMemorySpanExporter()
    tracing = Tracing.create("replay", [SimpleSpanProcessor(exporter)])
    worker_side = [i for i in tracing.temporal_interceptors() if isinstance(i, Interceptor)]
    assert worker_side, "the tracing interceptor must apply to workers"
    try:
        failures = await _replay(StagedCallbackWorkflow, _load(), interceptors=worker_side, sandboxed=False)
    finally:
        tracing.shutdown()
    assert not failures, "histories that no longer replay with tracing on:\n" + "\n".join(
        f"  {path.name}: {_describe(err)}" for path, err in sorted(failures.items())
    )
    assert [span.name for span in exporter.get_finished_spans()] == []


async def test_changed_workflow_fails_replay() -> None:
    """The check can fail: one extra timer before stage 1 is a NondeterminismError for every run that got there."""
    histories = _load()
    reached = {path for path, h in histories.items() if _reached_stage_1(h)}
    # Every first run starts at stage 1; only the later runs of a continue-as-new chain start past it.
    assert reached == {path for path, h in histories.items() if not _is_continuation(h)}
    assert reached, "no committed history reached stage 1"

    failures = await _replay(ChangedStagedCallbackWorkflow, histories, sandboxed=False)

    missed = sorted(path.name for path in reached if path not in failures)
    assert not missed, f"the changed workflow replayed these histories without error: {missed}"
    wrong_type = {
        path.name: _describe(err) for path, err in failures.items() if not isinstance(err, NondeterminismError)
    }
    assert not wrong_type, f"expected NondeterminismError, got: {wrong_type}"
    # Runs that never reached stage 1 never met the change: they must still replay.
    unexpected = sorted(path.name for path in failures if path not in reached)
    assert not unexpected, f"failed although they never reached stage 1: {unexpected}"
