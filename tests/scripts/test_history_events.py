"""History events per stage, counted from real runs through the whole stack (`scripts/history_events.py`).

Every event is stored, replayed by every worker that picks the run up, and counted against the 51,200-event
history limit: a stage's events are a budget. These bounds are today's counts (see "History events per stage"
in docs/BENCHMARKS.md); a change that adds one fails here and has to say why it earns its place.
"""

from __future__ import annotations

from temporalio.client import Client

from scripts.history_events import count_modes
from tests.stack import Stack

# Signal/update: request activity (3) + its workflow task (3) + the stage timer started and cancelled (2) + the
# callback (signal: 1; update: accepted + completed, 2) + its workflow task (3). Token: the activity (3) + its
# workflow task (3) + the hand-off check's timer started and cancelled (2: crash detection in seconds instead of
# the stage budget; a gate without a reconcile activity, or with handoff_check=None, has no such timer: 6).
MAX_EVENTS_PER_STAGE = {"signal": 12, "token": 8, "update": 13}


async def test_events_per_stage_stay_within_budget(client: Client, stack: Stack) -> None:
    counts = await count_modes(client, stack.settings.task_queue, stages=3)
    # Each stage on its own: timing may spare a stage events (a callback that beats the request's workflow
    # task needs no timer), never add any, so the fullest stage is what the budget bounds.
    fullest = {c.mode: max(c.stage_totals) for c in counts}
    assert all(len(c.stage_totals) == 3 for c in counts), [c.stage_totals for c in counts]
    over = {mode: n for mode, n in fullest.items() if n > MAX_EVENTS_PER_STAGE[mode]}
    assert not over, f"events in one stage over budget: {over} (by type: {[c.per_stage for c in counts]})"
    # What each stage after the first adds: no search attribute upsert (the run's own, StagegateMode and the SDK's
    # TemporalChangeVersion for each patch it reaches, are written once whatever the number of stages).
    upserts = {c.mode: c.per_stage.get("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", 0) for c in counts}
    assert all(n == 0 for n in upserts.values()), f"search attribute upserts per stage: {upserts}"
