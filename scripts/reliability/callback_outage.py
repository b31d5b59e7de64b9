"""Row: the callback server is down (SIGKILLed) for a while as callbacks fire, then comes back on the same port.

    uv run python -m scripts.reliability.callback_outage [--down 60] [--runs 60] [--seed 1]

The runs (a third per mode) are started first; their callbacks fall due over the outage. The service mock
retries with its own defaults (SERVICE_CALLBACK_*), as a new user's would. A callback whose retries run out
before the server is back can only come home through reconcile; that column is what the sender's retry window
decides. Exit code 0 when no run was lost or double-advanced.
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

STAGES = 2
STAGE_TIMEOUT = 150.0
OUTAGE_STARTS_AFTER = 5.0


async def run(down: float, runs: int, seed: int) -> Row:
    rng = random.Random(seed)  # noqa: S311  # callback timing, not cryptography
    modes = list(Mode)
    inputs = [
        StagedRunInput(
            mode=modes[i % len(modes)],
            stages=STAGES,
            time_to_request=0.2,
            # Due while the server is down (some before it goes, some after it is back).
            time_to_callback=round(rng.uniform(OUTAGE_STARTS_AFTER, OUTAGE_STARTS_AFTER + down), 2),
            stage_timeout_seconds=STAGE_TIMEOUT,
        )
        for i in range(runs)
    ]
    async with lab("callback-outage") as lb:
        handles = await start_runs(lb.client, lb.task_queue, inputs)
        await asyncio.sleep(OUTAGE_STARTS_AFTER)
        lb.stack.kill("callback_server")
        print(f"callback server down for {down:g} s", flush=True)
        await asyncio.sleep(down)
        await asyncio.to_thread(lb.stack.start, "callback_server")
        print("callback server back", flush=True)
        ends = await wait_all(handles, timeout=STAGES * STAGE_TIMEOUT + 120)
        errors = server_errors(lb.service_log)
        exhausted = exhausted_callbacks(lb.service_log)
    return Row(
        fault=f"callback server SIGKILLed, down {down:g} s while callbacks fire, restarted on its port",
        tries=f"1 outage, {runs} runs x {STAGES} stages (a third per mode)",
        expected="every run completes; callbacks retried into the restarted server (none via reconcile)",
        tally=tally(handles, ends, STAGES),
        server_errors=dict(errors),
        command=f"just reliability-row callback_outage --down {down:g} --runs {runs} --seed {seed}",
        notes=f"{exhausted} callbacks given up by the sender",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callback_outage", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--down", type=float, default=60.0, help="seconds the callback server stays down")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    row = asyncio.run(run(args.down, args.runs, args.seed))
    row.emit()
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
