"""Row: many runs with duplicated and out-of-order callback deliveries; nothing may advance twice.

    uv run python -m scripts.reliability.deliveries [--runs 200] [--stages 5] [--seed 1]

Modes rotate signal/token/update. A fifth of the runs get every callback delivered twice (the service mock's
`duplicate_deliveries`). A tenth get their callbacks out of order: each stage's callback arrives BEFORE the
service answers the request (time_to_callback < time_to_request), and once the run is done this script posts
stage 1's final callback again to its signed URL (a stale, late redelivery), which must be refused or ignored,
never a 5xx. Exit code 0 when no run was lost or double-advanced and no answer was a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import Counter

import httpx
import msgspec

from app.demo.payloads import ServiceFaults, StagedRunInput
from app.gate.types import Mode
from scripts.reliability.lab import lab
from scripts.reliability.tally import Handle, Row, server_errors, start_runs, tally, wait_all

STAGE_TIMEOUT = 120.0


async def _redeliver_stage_1(http: httpx.AsyncClient, service_url: str, handle: Handle) -> int:
    """Post stage 1's final callback again to the URL the service used; the HTTP status it got."""
    key = f"{handle.id}/{handle.result_run_id}/1"
    jobs = (await http.get(f"{service_url}/jobs", params={"idempotency_key": key})).json()
    job = jobs[0]
    body = msgspec.json.encode(job["final"])
    response = await http.post(job["callback_url"], content=body, headers={"content-type": "application/json"})
    return response.status_code


async def run(runs: int, stages: int, seed: int) -> Row:
    rng = random.Random(seed)  # noqa: S311  # which runs get which fault, not cryptography
    modes = list(Mode)
    picks = list(range(runs))
    rng.shuffle(picks)
    duplicated = set(picks[: runs // 5])
    out_of_order = set(picks[runs // 5 : runs // 5 + runs // 10])
    inputs = [
        StagedRunInput(
            mode=modes[i % len(modes)],
            stages=stages,
            time_to_request=0.6 if i in out_of_order else 0.1,
            time_to_callback=0.1 if i in out_of_order else 0.3,
            stage_timeout_seconds=STAGE_TIMEOUT,
            faults=ServiceFaults(duplicate_deliveries=1 if i in duplicated else 0),
        )
        for i in range(runs)
    ]
    async with lab("deliveries", workers=2) as lb:
        handles = await start_runs(lb.client, lb.task_queue, inputs, spread_seconds=30.0)
        ends = await wait_all(handles, timeout=stages * STAGE_TIMEOUT + 120)
        async with httpx.AsyncClient(trust_env=False, timeout=30.0) as http:
            late = await asyncio.gather(
                *(_redeliver_stage_1(http, lb.stack.settings.service_url, handles[i]) for i in sorted(out_of_order))
            )
        errors = server_errors(lb.service_log)
    late_answers = Counter(late)
    errors.update(status for status in late if status >= 500)
    return Row(
        fault="duplicate and out-of-order callback deliveries (modes rotate)",
        tries=(
            f"{runs} runs x {stages} stages; {len(duplicated)} runs with every callback twice; "
            f"{len(out_of_order)} runs with callbacks before the request's answer plus a late redelivery of stage 1"
        ),
        expected="every stage advances exactly once; duplicates ignored or refused with 4xx",
        tally=tally(handles, ends, stages),
        server_errors=dict(errors),
        command=f"just reliability-row deliveries --runs {runs} --stages {stages} --seed {seed}",
        notes=f"late redeliveries answered {dict(sorted(late_answers.items()))}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deliveries", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--stages", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    row = asyncio.run(run(args.runs, args.stages, args.seed))
    row.emit()
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
