"""What a run writes to its search attributes, from workflow code: as little as it can (each upsert is an event).

Since patch `stagegate-no-stage-upserts` (v6 histories) a run upserts nothing per stage: `StagegateStage`
cost one history event and one visibility write per stage, ~8% of a signal-mode stage's events, for a list
filter that the gate's status query answers too (`cli list --stage N`). `StagegateMode` is written once at
start by the starter; the run upserts it only when whoever started it did not. Runs that started before the
patch keep upserting both, as their histories say.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.gate import search_attributes

PATCH_NO_STAGE_UPSERTS = "stagegate-no-stage-upserts"


def record_mode(mode: str) -> None:
    """At run start: make sure `StagegateMode` is set (one upsert only when the start request lacked it)."""
    if (
        workflow.patched(PATCH_NO_STAGE_UPSERTS)
        and workflow.info().typed_search_attributes.get(search_attributes.MODE) is not None
    ):
        return
    workflow.upsert_search_attributes([search_attributes.MODE.value_set(mode)])


def record_stage(number: int) -> None:
    """At a stage's start: nothing, except in runs that began before the patch (they upsert `StagegateStage`)."""
    if workflow.patched(PATCH_NO_STAGE_UPSERTS):
        return
    workflow.upsert_search_attributes([search_attributes.STAGE.value_set(number)])
