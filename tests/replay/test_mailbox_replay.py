"""Replay every committed hook-mailbox history against the current HookMailboxWorkflow: no server, a second.

The mailbox is a workflow of its own (one per fixed-endpoint source and key), so it is held to the same rule as
the gate's users: a change must replay the mailboxes already running, or go behind `workflow.patched` and be
recorded under a new tag (`just histories-pipelines --tag pN` records them beside the pipeline runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from app.gate.mailbox import HookMailboxWorkflow
from tests.replay.layout import MAILBOX_HISTORY_DIR, committed_histories

# p5 (3): the mailbox of pipelines/stripe_style.yaml's stage in every mode (a progress event, then the final one).
MIN_HISTORIES = 3


async def test_committed_mailbox_histories_replay() -> None:
    paths = committed_histories(MAILBOX_HISTORY_DIR)
    assert len(paths) >= MIN_HISTORIES, f"expected {MIN_HISTORIES}+ histories in {MAILBOX_HISTORY_DIR}"
    histories = {path.name: WorkflowHistory.from_json(path.stem, path.read_text()) for path in paths}

    async def feed() -> AsyncIterator[WorkflowHistory]:
        for history in histories.values():
            yield history

    results = await Replayer(workflows=[HookMailboxWorkflow]).replay_workflows(feed(), raise_on_replay_failure=False)
    names = {h.run_id: name for name, h in histories.items()}
    failures = {
        names[run_id]: f"{type(err).__name__}: {str(err)[:300]}" for run_id, err in results.replay_failures.items()
    }
    assert not failures, failures
