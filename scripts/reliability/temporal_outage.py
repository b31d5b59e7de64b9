"""Row: the Temporal dev server is SIGKILLed mid-run, stays down, and is started again on its SQLite file.

    uv run python -m scripts.reliability.temporal_outage [--down 180] [--runs 30] [--seed 1]

While it is down the workers cannot poll, the callback server cannot forward (it answers 503) and timers do
not fire; the runs must all go on once it is back. Workers that exited during the outage are started again
(and counted in the notes). Exit code 0 when no run was lost or double-advanced.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from app.demo.payloads import StagedRunInput
from app.gate.types import Mode
from scripts.reliability.lab import lab
from scripts.reliability.tally import Row, exhausted_callbacks, server_errors, start_runs, tally, wait_all
from scripts.stack.dev_server import connect

STAGES = 2
STAGE_TIMEOUT = 300.0  # longer than the outage: the stage's time remains when Temporal is back
OUTAGE_STARTS_AFTER = 8.0


async def run(down: float, runs: int, seed: int) -> Row:
    rng = random.Random(seed)  # noqa: S311  # callback timing, not cryptography
    modes = list(Mode)
    inputs = [
        StagedRunInput(
            mode=modes[i % len(modes)],
            stages=STAGES,
            time_to_request=0.2,
            time_to_callback=round(rng.uniform(2.0, 30.0), 2),
            stage_timeout_seconds=STAGE_TIMEOUT,
        )
        for i in range(runs)
    ]
    async with lab("temporal-outage") as lb:
        handles = await start_runs(lb.client, lb.task_queue, inputs)
        await asyncio.sleep(OUTAGE_STARTS_AFTER)
        lb.server.kill()
        print(f"temporal down for {down:g} s", flush=True)
        await asyncio.sleep(down)
        await asyncio.to_thread(lb.server.start)
        await connect(lb.server.address)
        print("temporal back", flush=True)
        dead = [w for w in lb.stack.workers if not lb.stack.alive(w)]
        for worker in dead:
            await asyncio.to_thread(lb.stack.start, worker)
        ends = await wait_all(handles, timeout=STAGES * STAGE_TIMEOUT + 120)
        errors = server_errors(lb.service_log)
        exhausted = exhausted_callbacks(lb.service_log)
    return Row(
        fault=f"Temporal dev server SIGKILLed, down {down:g} s, restarted on its SQLite file",
        tries=f"1 outage, {runs} runs x {STAGES} stages (a third per mode)",
        expected="every run completes after the restart; callbacks retried (none via reconcile)",
        tally=tally(handles, ends, STAGES),
        server_errors=dict(errors),
        command=f"just reliability-row temporal_outage --down {down:g} --runs {runs} --seed {seed}",
        notes=f"{exhausted} callbacks given up by the sender; workers that exited during the outage: {len(dead)}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="temporal_outage", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--down", type=float, default=180.0, help="seconds Temporal stays down")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    row = asyncio.run(run(args.down, args.runs, args.seed))
    row.emit()
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
