"""Row: workers SIGKILLed at random moments while runs of one mode go through their stages.

    uv run python -m scripts.reliability.worker_kills --mode token [--runs 100] [--kills 20] [--seed 1] [--mid-wait]

Two workers; each kill picks one at random, SIGKILLs it (no drain) and starts it again at once; the other keeps
running (a kill waits until the previous victim is back), so what a kill costs is how long Temporal takes to
notice, not how long nothing runs. The kills fall at random moments over the window in which the runs are
started (2 s per run), so they hit every point of a stage: before the request, during it, after the hand-off,
during a workflow task, during a reconcile. Exit code 0 when no run was lost or double-advanced.

`--mid-wait` puts the kills where stages wait for their callbacks: each stage waits 8-15 s for its callback (so most
kills land mid-wait), every other run's first request attempt loses the service's answer (the activity is retried
after the service took attempt 1's callback URL), and the service keeps calling the URL it got first
(`SERVICE_KEEP_FIRST_CALLBACK_URL=1`), as many real services do. Token mode before v8tok: that URL named attempt 1's
task token, so its callback was refused and the stage came home by reconcile or its timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

from app.demo.payloads import ServiceFaults, StagedRunInput
from app.gate.types import Mode
from scripts.reliability.lab import Lab, lab
from scripts.reliability.tally import Row, server_errors, start_runs, tally, wait_all

STAGES = 2
STAGE_TIMEOUT = 120.0
TIME_TO_REQUEST = 1.0  # the service holds each request this long: a kill often lands mid-request
MID_WAIT_CALLBACK = (8.0, 15.0)  # --mid-wait: how long each stage waits for its callback (uniform, seconds)


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


def _repeated_requests(service_log: Path) -> int:
    """Requests the service mock got again for a job it already had (a retried stage activity), from its log."""
    text = service_log.read_text(errors="replace") if service_log.exists() else ""
    return text.count('"duplicate request, no new work"')


def _inputs(mode: Mode, runs: int, rng: random.Random, *, mid_wait: bool) -> list[StagedRunInput]:
    low, high = MID_WAIT_CALLBACK if mid_wait else (0.5, 4.0)
    return [
        StagedRunInput(
            mode=mode,
            stages=STAGES,
            time_to_request=TIME_TO_REQUEST,
            time_to_callback=round(rng.uniform(low, high), 2),
            stage_timeout_seconds=STAGE_TIMEOUT,
            faults=ServiceFaults(lose_first_request_answer=mid_wait and i % 2 == 0),
        )
        for i in range(runs)
    ]


async def run(mode: Mode, runs: int, kills: int, seed: int, *, mid_wait: bool = False) -> Row:
    rng = random.Random(seed)  # noqa: S311  # when to kill, not cryptography
    window = max(30.0, runs * 2.0)  # runs are started over this long; kills fall in it too
    inputs = _inputs(mode, runs, rng, mid_wait=mid_wait)
    name = f"worker-kills-{mode.value}" + ("-mid-wait" if mid_wait else "")
    env = {"SERVICE_KEEP_FIRST_CALLBACK_URL": "1"} if mid_wait else None
    async with lab(name, workers=2, extra_env=env) as lb:
        killing = asyncio.ensure_future(kill_at_random(lb, kills=kills, window=window, rng=rng))
        handles = await start_runs(lb.client, lb.task_queue, inputs, spread_seconds=window)
        kill_log = await killing
        ends = await wait_all(handles, timeout=STAGES * STAGE_TIMEOUT + 60)
        errors = server_errors(lb.service_log)
        repeated = _repeated_requests(lb.service_log)
    print("kills:", ", ".join(kill_log))
    if mid_wait:
        fault = (
            f"worker SIGKILL while stages wait for their callbacks, {mode.value} mode (2 workers; half the runs' "
            "first request retried; the service calls the URL it got first)"
        )
        expected = "every run completes; every stage by its original callback (0 via reconcile), no +60 s stages"
    else:
        fault = f"worker SIGKILL at random moments, {mode.value} mode (2 workers; the victim restarted at once)"
        expected = f"every run completes; a kill costs < 30 s (stage budget {STAGE_TIMEOUT:g} s)"
    return Row(
        fault=fault,
        tries=f"{kills} kills during {runs} runs x {STAGES} stages",
        expected=expected,
        tally=tally(handles, ends, STAGES),
        server_errors=dict(errors),
        notes=f"{repeated} requests reached the service again for a job it had (retries)" if mid_wait else "",
        command=f"just reliability-row worker_kills --mode {mode.value} --runs {runs} --kills {kills} --seed {seed}"
        + (" --mid-wait" if mid_wait else ""),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker_kills", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", type=Mode, choices=list(Mode), required=True)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mid-wait", action="store_true", help="kill while stages wait for their callbacks")
    args = parser.parse_args(argv)
    row = asyncio.run(run(args.mode, args.runs, args.kills, args.seed, mid_wait=args.mid_wait))
    row.emit()
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
