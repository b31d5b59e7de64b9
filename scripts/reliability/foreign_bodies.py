"""Row: services' own callback bodies (issue 19) under duplicates, early and out-of-order deliveries and worker kills.

    uv run python -m scripts.reliability.foreign_bodies [--runs 60] [--kills 12] [--seed 1]

Pipeline runs of two stages each against three services that speak their own bodies (`foreign_vendor.py`):
Replicate-style (JSON prediction objects with progress events and an event-ID header), AssemblyAI-style (a bare
notify, then the result fetched with a GET) and Twilio-style (form-encoded status events with progress, no event
ID). Modes rotate signal/token/update, styles rotate every three runs, and each run's deliveries follow a plan:
normal, duplicate (every event twice), early (every event before the request is answered) or out of order (the
final event first, a progress event after it, the final again a second later). Meanwhile two workers are SIGKILLed
at random moments and restarted at once (as in `worker_kills`). Every stage must advance exactly once, with the
result of one of the vendor's jobs for that very stage; no callback answer may be a 5xx other than 503.
Exit code 0 when no run was lost or double-advanced and no answer was such a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from temporalio.client import WorkflowFailureError, WorkflowHandle

from app.gate.types import Mode, Outcome, StageRecord
from app.pipeline.file import parse_pipeline
from app.pipeline.types import Pipeline, PipelineResult, PipelineRunInput
from app.starter import start_pipeline_run
from scripts.bench.stub_service import StubServer
from scripts.reliability.foreign_vendor import ForeignVendors, Plan, Style, replicate_output, transcript_text
from scripts.reliability.lab import lab
from scripts.reliability.tally import Row, Tally
from scripts.reliability.worker_kills import kill_at_random
from scripts.stack.processes import free_port

STAGES = ("one", "two")
STAGE_TIMEOUT = 120.0
SEND_DRAIN_SECONDS = 30.0  # after the runs ended: the vendors' last (late, repeated) deliveries
TWILIO_FIELDS = {"AccountSid": "AC123", "To": "+15550100", "MessageStatus": "delivered"}

Handle = WorkflowHandle[object, PipelineResult]


def _stage(style: Style, vendor: str, name: str) -> dict[str, Any]:
    """One stage of a style's pipeline, written as a user would (the vendor's API, the vendor's shape)."""
    who = {"run": "${workflow_id}", "stage": "${stage}", "plan": "${input.plan}"}
    base: dict[str, Any] = {"name": name, "timeout": f"{STAGE_TIMEOUT:g}s"}
    if style is Style.REPLICATE:
        return base | {
            "request": {
                "method": "POST",
                "url": f"{vendor}/replicate/v1/predictions",
                "body": {"version": "sdxl", "input": who, "webhook": "${callback_url}"},
            },
            "answer_id": "id",
            "callback": {
                "outcome": "status",
                "values": {
                    "completed": ["succeeded"],
                    "failed": ["failed"],
                    "cancelled": ["canceled"],
                    "progress": ["starting", "processing"],
                },
                "result": "output",
                "error": "error",
                "event_id_header": "webhook-id",
            },
        }
    if style is Style.ASSEMBLY:
        return base | {
            "request": {
                "method": "POST",
                "url": f"{vendor}/assembly/v2/transcript",
                "body": {"audio_url": "https://audio.example/a.mp3", "webhook_url": "${callback_url}", **who},
            },
            "answer_id": "id",
            "callback": {"outcome": "status", "values": {"completed": ["completed"], "failed": ["error"]}},
            "fetch": {
                "url": f"{vendor}/assembly/v2/transcript/${{callback.transcript_id}}",
                "answer": {
                    "outcome": "status",
                    "values": {"completed": ["completed"], "failed": ["error"], "progress": ["queued", "processing"]},
                    "error": "error",
                },
            },
        }
    return base | {
        "request": {
            "method": "POST",
            "url": f"{vendor}/twilio/Messages.json",
            "body": {"To": "+15550100", "Body": "hello", "StatusCallback": "${callback_url}", **who},
        },
        "answer_id": "sid",
        "callback": {
            "body": "form",
            "outcome": "MessageStatus",
            "values": {
                "completed": ["delivered"],
                "failed": ["failed", "undelivered"],
                "cancelled": ["canceled"],
                "progress": ["queued", "sending", "sent"],
            },
            "error": "ErrorCode",
        },
    }


def pipeline_for(style: Style, vendor: str) -> Pipeline:
    """A two-stage pipeline file for one style (JSON is YAML), checked like any file."""
    doc = {
        "version": 1,
        "name": f"foreign-{style.value}",
        "input": {"example": {"plan": "normal"}},
        "stages": [_stage(style, vendor, name) for name in STAGES],
    }
    return parse_pipeline(json.dumps(doc), source=f"foreign-{style.value}.yaml")


def stage_problem(record: StageRecord, style: Style, vendors: ForeignVendors, run: str) -> str | None:
    """Why this stage's record is not "advanced once, with the result of one of ITS jobs", or None."""
    if record.outcome is not Outcome.COMPLETED:
        return f"outcome {record.outcome.value}: {record.error}"
    jobs = vendors.jobs_of(run, str(record.stage))
    if style is Style.REPLICATE:
        expected = [replicate_output(job.id) for job in jobs]
    elif style is Style.ASSEMBLY:
        expected = [{"id": job.id, "status": "completed", "text": transcript_text(job.id)} for job in jobs]
    else:
        expected = [TWILIO_FIELDS | {"MessageSid": job.id} for job in jobs]
    if record.result not in expected:
        return f"result {record.result!r} is none of its {len(jobs)} job(s)' results"
    return None


async def _end(handle: Handle, timeout: float) -> PipelineResult | str:
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except WorkflowFailureError as err:
        return f"failed: {type(err.cause).__name__}"
    except TimeoutError:
        return "not closed in time"


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def pipeline_tally(
    handles: Sequence[Handle], ends: Sequence[PipelineResult | str], styles: Sequence[Style], vendors: ForeignVendors
) -> tuple[Tally, list[str]]:
    """Lost and double-advanced runs (a stage not exactly once, or with another job's result); the problems."""
    problems: list[str] = []
    lost_ids: list[str] = []
    failures: Counter[str] = Counter()
    double = 0
    records: list[StageRecord] = []
    for handle, end, style in zip(handles, ends, styles, strict=True):
        if isinstance(end, str):
            lost_ids.append(handle.id)
            failures[end] += 1
            continue
        records += end.stages
        names = [str(s.stage) for s in end.stages]
        found = [p for s in end.stages if (p := stage_problem(s, style, vendors, handle.id)) is not None]
        if names != list(STAGES) or found:
            double += 1
            problems.append(f"{handle.id}: stages {names}; {'; '.join(found)}")
    durations = sorted(_seconds(s.requested_at, s.advanced_at) for s in records)
    tally = Tally(
        runs=len(handles),
        completed=len(handles) - len(lost_ids),
        lost=len(lost_ids),
        double_advanced=double,
        stages_via_reconcile=0,  # these stages have no `status:`: nothing to reconcile with
        runs_via_reconcile=0,
        requests_repeated=sum(s.requests_repeated for s in records),
        stages_retried=sum(1 for s in records if s.attempts > 1),
        duplicates_ignored=sum(s.duplicates_ignored for s in records),
        slowest_stage_seconds=round(durations[-1], 2) if durations else 0.0,
        p95_stage_seconds=round(durations[int(0.95 * (len(durations) - 1))], 2) if durations else 0.0,
        failures=dict(failures),
        lost_ids=lost_ids[:20],
    )
    return tally, problems


async def run(runs: int, kills: int, seed: int) -> Row:
    rng = random.Random(seed)  # noqa: S311  # when to kill, not cryptography
    modes, styles, plans = list(Mode), list(Style), list(Plan)
    picks = [(modes[i % 3], styles[(i // 3) % 3], plans[(i // 9 + i) % 4]) for i in range(runs)]
    window = max(30.0, runs * 2.0)
    vendors = ForeignVendors()
    async with (
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
        StubServer(vendors, free_port()) as vendor_server,
        lab("foreign-bodies", workers=2, extra_env={"STAGEGATE_EGRESS_HOSTS": "127.0.0.1"}) as lb,
    ):
        vendors.http = http
        pipelines = {style: pipeline_for(style, vendor_server.url) for style in styles}
        killing = asyncio.ensure_future(kill_at_random(lb, kills=kills, window=window, rng=rng))
        handles: list[Handle] = []
        began = time.monotonic()
        for i, (mode, style, plan) in enumerate(picks):
            await asyncio.sleep(max(0.0, began + window * i / runs - time.monotonic()))
            inp = PipelineRunInput(pipelines[style], {"plan": plan.value}, mode)
            handles.append(await start_pipeline_run(lb.client, lb.task_queue, inp))
        kill_log = await killing
        ends = await asyncio.gather(*(_end(h, len(STAGES) * STAGE_TIMEOUT + 60) for h in handles))
        await vendors.drain(timeout=SEND_DRAIN_SECONDS)
    print("kills:", ", ".join(kill_log))
    tally, problems = pipeline_tally(handles, ends, [style for _, style, _ in picks], vendors)
    for problem in problems[:20]:
        print("problem:", problem)
    statuses = Counter[int]()
    for key, n in vendors.answers.items():
        statuses[int(key.rsplit(" ", 1)[1])] += n
    fetches = sum(job.fetches for job in vendors.jobs.values())
    # Signal and update mode record progress events (token mode: they are the activity's heartbeat).
    progress_capable = [
        s
        for end, (mode, style, _) in zip(ends, picks, strict=True)
        if not isinstance(end, str) and mode is not Mode.TOKEN and style is not Style.ASSEMBLY
        for s in end.stages
    ]
    progress_stages = f"{sum(1 for s in progress_capable if s.progress > 0)} of {len(progress_capable)}"
    combos = Counter(f"{style.value}/{plan.value}" for _, style, plan in picks)
    return Row(
        fault=(
            "services' own callback bodies (Replicate-, AssemblyAI-, Twilio-style; progress events, duplicates, "
            "early and out-of-order deliveries) with worker SIGKILLs, modes rotate"
        ),
        tries=(
            f"{runs} pipeline runs x {len(STAGES)} stages, {kills} kills; "
            f"{sum(1 for _, _, p in picks if p is not Plan.NORMAL)} runs with a delivery fault"
        ),
        expected="every stage advances once, with its own job's result; repeats ignored or 4xx",
        tally=tally,
        server_errors={status: n for status, n in statuses.items() if status >= 500},
        command=f"just reliability-row foreign_bodies --runs {runs} --kills {kills} --seed {seed}",
        notes=(
            f"callback answers {dict(sorted(statuses.items()))}; {fetches} result fetches; "
            f"{progress_stages} signal/update stages showed progress; "
            f"runs per style/plan {dict(sorted(combos.items()))}"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="foreign_bodies", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    row = asyncio.run(run(args.runs, args.kills, args.seed))
    row.emit()
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
