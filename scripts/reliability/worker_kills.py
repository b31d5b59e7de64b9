"""Row: workers SIGKILLed at random moments while runs of one mode go through their stages.

    uv run python -m scripts.reliability.worker_kills --mode token [--runs 100] [--kills 20] [--seed 1]

Two workers; each kill picks one at random, SIGKILLs it (no drain) and starts it again at once; the other keeps
running (a kill waits until the previous victim is back), so what a kill costs is how long Temporal takes to
notice, not how long nothing runs. The kills fall at random moments over the window in which the runs are
started (2 s per run), so they hit every point of a stage: before the request, during it, after the hand-off,
during a workflow task, during a reconcile. Exit code 0 when no run was lost or double-advanced.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from app.demo.payloads import StagedRunInput
from app.gate.types import Mode
from scripts.reliability.lab import Lab, lab
from scripts.reliability.tally import Row, server_errors, start_runs, tally, wait_all

STAGES = 2
STAGE_TIMEOUT = 120.0
TIME_TO_REQUEST = 1.0  # the service holds each request this long: a kill often lands mid-request


async def kill_at_random(lb: Lab, *, kills: int, window: float, rng: random.Random) -> list[str]:
    """SIGKILL a random worker at `kills` random moments within `window` seconds; restart it each time."""
    moments = sorted(rng.uniform(5.0, window) for _ in range(kills))
    loop = asyncio.get_running_loop()
    began = loop.time()
    log: list[str] = []
    for moment in moments:
        await asyncio.sleep(max(0.0, began + moment - loop.time()))
        victim = rng.choice(lb.stack.workers)
        pid = lb.stack.kill(victim)
        log.append(f"{loop.time() - began:.1f}s {victim} pid {pid}")
        # Started again at once; the next kill waits until it is up (at most one worker down at a time).
        await asyncio.to_thread(lb.stack.start, victim)
    return log


async def run(mode: Mode, runs: int, kills: int, seed: int) -> Row:
    rng = random.Random(seed)  # noqa: S311  # when to kill, not cryptography
    window = max(30.0, runs * 2.0)  # runs are started over this long; kills fall in it too
    inputs = [
        StagedRunInput(
            mode=mode,
            stages=STAGES,
            time_to_request=TIME_TO_REQUEST,
            time_to_callback=round(rng.uniform(0.5, 4.0), 2),
            stage_timeout_seconds=STAGE_TIMEOUT,
        )
        for _ in range(runs)
    ]
    async with lab(f"worker-kills-{mode.value}", workers=2) as lb:
        killing = asyncio.ensure_future(kill_at_random(lb, kills=kills, window=window, rng=rng))
        handles = await start_runs(lb.client, lb.task_queue, inputs, spread_seconds=window)
        kill_log = await killing
        ends = await wait_all(handles, timeout=STAGES * STAGE_TIMEOUT + 60)
        errors = server_errors(lb.service_log)
    print("kills:", ", ".join(kill_log))
    return Row(
        fault=f"worker SIGKILL at random moments, {mode.value} mode (2 workers; the victim restarted at once)",
        tries=f"{kills} kills during {runs} runs x {STAGES} stages",
        expected=f"every run completes; a kill costs < 30 s (stage budget {STAGE_TIMEOUT:g} s)",
        tally=tally(handles, ends, STAGES),
        server_errors=dict(errors),
        command=f"just reliability-row worker_kills --mode {mode.value} --runs {runs} --kills {kills} --seed {seed}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker_kills", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", type=Mode, choices=list(Mode), required=True)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    row = asyncio.run(run(args.mode, args.runs, args.kills, args.seed))
    row.emit()
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
