"""History events per stage, counted from real runs through the whole stack (`scripts/history_events.py`).

Every event is stored, replayed by every worker that picks the run up, and counted against the 51,200-event
history limit: a stage's events are a budget. These bounds are today's counts (see "History events per stage"
in docs/BENCHMARKS.md); a change that adds one fails here and has to say why it earns its place.
"""

from __future__ import annotations

from temporalio.client import Client

from scripts.history_events import count_modes
from tests.stack import Stack

# Signal/update: request activity (3) + its workflow task (3) + the callback (signal: 1; update: accepted + completed,
# 2) + its workflow task (3). Token: the activity (3) + its workflow task (3). Since v12 the stage deadlines (and
# token mode's hand-off checks) share one timer per run, which the first stage starts and no stage cancels: the
# first stage may have one event more, the ones after it none (before v12: started + cancelled, 2 per stage).
MAX_EVENTS_PER_STAGE = {"signal": 10, "token": 6, "update": 11}
FIRST_STAGE_EXTRA = 1


async def test_events_per_stage_stay_within_budget(client: Client, stack: Stack) -> None:
    counts = await count_modes(client, stack.settings.task_queue, stages=3)
    # Each stage on its own: timing may spare a stage events (a callback that beats the request's workflow
    # task needs no wait), never add any, so each stage's fullest count is what the budget bounds.
    assert all(len(c.stage_totals) == 3 for c in counts), [c.stage_totals for c in counts]
    first = {c.mode: c.stage_totals[0] for c in counts}
    later = {c.mode: max(c.stage_totals[1:]) for c in counts}
    over = {mode: n for mode, n in later.items() if n > MAX_EVENTS_PER_STAGE[mode]}
    over |= {f"{mode} (first)": n for mode, n in first.items() if n > MAX_EVENTS_PER_STAGE[mode] + FIRST_STAGE_EXTRA}
    assert not over, f"events in one stage over budget: {over} (by type: {[c.per_stage for c in counts]})"
    # The measure: what a stage adds, (run of 3 - run of 1) / 2.
    marginal = {c.mode: c.per_stage_total for c in counts if c.per_stage_total > MAX_EVENTS_PER_STAGE[c.mode]}
    assert not marginal, f"events per stage over budget: {marginal}"
    # What each stage after the first adds: no search attribute upsert (the run's own, StagegateMode and the SDK's
    # TemporalChangeVersion for each patch it reaches, are written once whatever the number of stages).
    upserts = {c.mode: c.per_stage.get("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", 0) for c in counts}
    assert all(n == 0 for n in upserts.values()), f"search attribute upserts per stage: {upserts}"
