"""Replay every committed pipeline-run history against the current PipelineWorkflow: no server, a second or two.

A failure means the pipeline workflow no longer makes the same commands for a run it already recorded: make
the change replay-safe (`workflow.patched`) and record the new behaviour under a new tag
(`just histories-pipelines --tag p2`), keeping the old files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from app.pipeline.workflow import PipelineWorkflow
from tests.replay.changed_pipeline_workflow import ChangedPipelineWorkflow
from tests.replay.layout import PIPELINE_HISTORY_DIR, committed_histories, workflow_id_from_file

# p1 (8): both example pipelines in every mode, a failed stage with on_failure: continue, a lost callback
# reconciled from the status URL. An empty or half-deleted folder must not pass.
# p2 (8, patch "stagegate-no-stage-upserts"): the same scenarios, without a search attribute upsert per stage.
# p3 (8): the same scenarios, with issue 23's current details and summaries.
# p4 (15, patch "stagegate-fetch-after-notify"): the same, plus the vendor-style examples (a service's own
# callback body in every mode, notify-then-fetch in every mode, a form-encoded callback).
# p5 (18): the same, plus a stage that waits on a fixed endpoint (`wait:`, pipelines/stripe_style.yaml) in every
# mode; the gate adds no command for it (the stage activity registers with the key's mailbox), and the mailboxes'
# own histories are replayed by test_mailbox_replay.py.
# p6 (3, patch "stagegate-hook-handoff-check"): the fixed-endpoint runs again; token mode records the patch, a named
# stage activity ID and the hook hand-off check's timer (test_patch.py shows the patch is needed for them).
MIN_HISTORIES = 60


def _load() -> dict[Path, WorkflowHistory]:
    paths = committed_histories(PIPELINE_HISTORY_DIR)
    assert len(paths) >= MIN_HISTORIES, (
        f"expected {MIN_HISTORIES}+ histories in {PIPELINE_HISTORY_DIR}, found {len(paths)}"
    )
    return {path: WorkflowHistory.from_json(workflow_id_from_file(path), path.read_text()) for path in paths}


async def _failures(workflow: type, histories: dict[Path, WorkflowHistory]) -> dict[str, Exception]:
    by_run_id = {h.run_id: path.name for path, h in histories.items()}

    async def feed() -> AsyncIterator[WorkflowHistory]:
        for history in histories.values():
            yield history

    results = await Replayer(workflows=[workflow]).replay_workflows(feed(), raise_on_replay_failure=False)
    return {by_run_id[run_id]: err for run_id, err in results.replay_failures.items()}


async def test_committed_pipeline_histories_replay() -> None:
    histories = _load()
    failures = await _failures(PipelineWorkflow, histories)
    assert not failures, {name: f"{type(err).__name__}: {str(err)[:300]}" for name, err in failures.items()}


async def test_changed_pipeline_workflow_fails_replay() -> None:
    """The check can fail: one extra timer before the first stage breaks every recorded run."""
    histories = _load()
    failures = await _failures(ChangedPipelineWorkflow, histories)
    assert sorted(failures) == sorted(path.name for path in histories)
    assert all(isinstance(err, NondeterminismError) for err in failures.values()), failures
