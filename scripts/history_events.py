"""History events per stage, by event type and mode, counted from real runs against the running stack.

    uv run python scripts/history_events.py [--stages 4] [--json out.json]

For each mode (signal, token, update) it starts the same demo run twice, with 1 stage and with `--stages`
stages (action complete, sub-second service timings), waits for both to end and fetches their histories. A
stage's cost is the difference divided by the extra stages: what every further stage adds, without the run's
own start and end. The stack (worker, callback server, service mock) must be up (`just up`, or
`scripts/devstack.py up`); settings come from the environment like every other process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from app.demo.payloads import ACTIVITY_AWAIT_STAGE_CALLBACK, ACTIVITY_REQUEST_STAGE, Action, StagedRunInput
from app.gate.types import Mode
from app.runtime.client import connect_client
from app.runtime.config import load_settings
from app.starter import start_staged_run
from scripts.stack.runs import wait_end

RUN_TIMEOUT_SECONDS = 120.0
# How the SDK records `workflow.patched`: a marker of this name, and the patch IDs in this search attribute.
PATCH_MARKER_NAME = "core_patch"
CHANGE_VERSION_ATTRIBUTE = "TemporalChangeVersion"
STAGE_ACTIVITIES = {ACTIVITY_REQUEST_STAGE, ACTIVITY_AWAIT_STAGE_CALLBACK}
_CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


@dataclass(frozen=True)
class ModeCount:
    """One mode's events: whole runs of 1 and N stages, and what each stage after the first adds."""

    mode: str
    stages: int
    run_of_1: dict[str, int]
    run_of_n: dict[str, int]
    per_stage: dict[str, float]
    per_stage_total: float
    per_stage_bytes: float
    # Each stage of the longer run counted on its own (its events up to the next stage's request): how a
    # stage's count varies, e.g. an early callback needs no stage timer.
    stage_totals: list[int]


def event_counts(history: WorkflowHistory) -> Counter[str]:
    """Events of one run by type (`EVENT_TYPE_` prefix dropped)."""
    return Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)


def stage_segments(history: WorkflowHistory) -> list[Counter[str]]:
    """Each stage's events: from its stage activity being scheduled to the next one's (the run's start and
    close events belong to no stage). The workflow task that handles a callback, and the next stage's
    commands it completes with, count for the stage that was called back. A patch's marker and the SDK's
    `TemporalChangeVersion` upsert are written once per run, by whichever stage first reaches the patch:
    they are the run's, not that stage's (the run totals still count them)."""
    segments: list[Counter[str]] = []
    for event in history.events:
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name in STAGE_ACTIVITIES
        ):
            segments.append(Counter())
        if segments and event.event_type not in _CLOSE_EVENTS and not _patch_bookkeeping(event):
            segments[-1][EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")] += 1
    return segments


def _patch_bookkeeping(event: HistoryEvent) -> bool:
    if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        return event.marker_recorded_event_attributes.marker_name == PATCH_MARKER_NAME
    if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        return set(fields) == {CHANGE_VERSION_ATTRIBUTE}
    return False


def history_bytes(history: WorkflowHistory) -> int:
    """The run's history size as the server stores it (serialized protobuf events)."""
    return sum(e.ByteSize() for e in history.events)


async def _run(client: Client, task_queue: str, mode: Mode, stages: int) -> WorkflowHistory:
    inp = StagedRunInput(
        mode=mode,
        stages=stages,
        actions=[Action.COMPLETE],
        time_to_request=0.1,
        time_to_callback=0.2,
        stage_timeout_seconds=60.0,
    )
    handle = await start_staged_run(client, task_queue, inp)
    end = await wait_end(handle, timeout=RUN_TIMEOUT_SECONDS)
    if end.result is None:
        raise RuntimeError(f"{handle.id} ({mode.value}, {stages} stages) did not complete: {end.error_type}")
    return await handle.fetch_history()


async def count_modes(client: Client, task_queue: str, stages: int) -> list[ModeCount]:
    """Both runs of every mode at once (they wait on timers and callbacks, not on each other)."""
    runs = {(mode, n): asyncio.ensure_future(_run(client, task_queue, mode, n)) for mode in Mode for n in (1, stages)}
    await asyncio.gather(*runs.values())
    counts: list[ModeCount] = []
    for mode in Mode:
        one, many = runs[mode, 1].result(), runs[mode, stages].result()
        c1, cn = event_counts(one), event_counts(many)
        extra = stages - 1
        per_stage = {t: (cn[t] - c1[t]) / extra for t in sorted(set(c1) | set(cn)) if cn[t] != c1[t]}
        counts.append(
            ModeCount(
                mode=mode.value,
                stages=stages,
                run_of_1=dict(sorted(c1.items())),
                run_of_n=dict(sorted(cn.items())),
                per_stage=per_stage,
                per_stage_total=(sum(cn.values()) - sum(c1.values())) / extra,
                per_stage_bytes=(history_bytes(many) - history_bytes(one)) / extra,
                stage_totals=[sum(c.values()) for c in stage_segments(many)],
            )
        )
    return counts


def table(counts: list[ModeCount]) -> str:
    """Markdown: event types down, modes across, events per stage in the cells."""
    types = sorted({t for c in counts for t in c.per_stage})
    lines = [
        "| event type (per stage) | " + " | ".join(c.mode for c in counts) + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for t in types:
        lines.append(f"| {t} | " + " | ".join(f"{c.per_stage.get(t, 0):.3g}" for c in counts) + " |")
    lines.append("| **total** | " + " | ".join(f"**{c.per_stage_total:.3g}**" for c in counts) + " |")
    lines.append("| bytes | " + " | ".join(f"{c.per_stage_bytes:.0f}" for c in counts) + " |")
    lines.append("| each stage on its own | " + " | ".join(" ".join(map(str, c.stage_totals)) for c in counts) + " |")
    return "\n".join(lines)


async def _measure(stages: int) -> list[ModeCount]:
    settings = load_settings()
    client = await connect_client(settings)
    return await count_modes(client, settings.task_queue, stages)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stages", type=int, default=4, help="stages of the longer run (at least 2; default 4)")
    parser.add_argument("--json", type=Path, default=None, help="also write the counts here")
    args = parser.parse_args(argv)
    if args.stages < 2:
        parser.error("--stages must be at least 2")
    counts = asyncio.run(_measure(args.stages))
    print(table(counts))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(c) for c in counts], indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
