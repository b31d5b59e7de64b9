"""Forged callbacks signed with the source's development secret, and exposed starts without a real secret.

    just reliability-row forged [--runs-per-mode 4] [--tries 60] [--seed 1] [--dev-mode]

A lab whose worker and callback server run WITHOUT the development flag (a real, random secret). Real runs of
every mode wait at stage 1; each of their callback URLs, as the service received it, is signed again with
`DEV_SIGNING_SECRET` (what anyone who read the repository can do) and POSTed `--tries` times in all with a
"completed" body whose result says `forged`. Goal: every forged try answered 403, no stage advanced with a
forged result, every run completes by the service's own callbacks. Then the callback server and the worker are
started on non-loopback addresses without a real secret (and with the development flag): each must exit 1 with
one line. `--dev-mode` breaks the rule on purpose (the lab runs on the development secret) to show the row fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import httpx

from app.demo.payloads import StagedRunInput
from app.gate.types import Mode
from app.runtime.config import DEV_SIGNING_SECRET
from scripts.reliability.guard_row import GuardRow
from scripts.reliability.hostile_inputs import JSON, Keys, Target, _signed
from scripts.reliability.lab import Lab, lab
from scripts.reliability.tally import Handle, server_errors, start_runs, tally, wait_all
from scripts.stack.processes import ROOT

COMMAND = "just reliability-row forged --seed N"
FORGED_RESULT = {"forged": True}
FORGED_BODY = b'{"status": "completed", "result": {"forged": true}}'
START_TIMEOUT_S = 60.0

ANY = "0.0.0.0"  # noqa: S104  # the exposed address these starts must be refused on
# Processes that must refuse to start: (what, module, environment beyond a clean one).
EXPOSED = [
    ("callback server on 0.0.0.0, no secret", "app.callback_server", {"CALLBACK_HOST": ANY}),
    (
        "callback server on 0.0.0.0, dev flag",
        "app.callback_server",
        {"CALLBACK_HOST": ANY, "STAGEGATE_DEV_MODE": "1"},
    ),
    ("worker, metrics on 0.0.0.0, no secret", "app.worker", {"WORKER_METRICS_BIND": f"{ANY}:1"}),
    (
        "worker, metrics on 0.0.0.0, dev flag",
        "app.worker",
        {"WORKER_METRICS_BIND": f"{ANY}:1", "STAGEGATE_DEV_MODE": "1"},
    ),
    (
        "worker, public callback base URL, dev flag",
        "app.worker",
        {"CALLBACK_BASE_URL": "http://203.0.113.7:8000", "STAGEGATE_DEV_MODE": "1"},
    ),
]


async def stage_one_url(http: httpx.AsyncClient, lab_: Lab, handle: Handle) -> str:
    """The stage-1 callback URL the service mock was given for this run."""
    key = f"{handle.id}/{handle.result_run_id}/1"
    async with asyncio.timeout(60):
        while True:
            jobs = (await http.get(f"{lab_.stack.service_url}/jobs", params={"idempotency_key": key})).json()
            if jobs:
                return str(jobs[0]["callback_url"])
            await asyncio.sleep(0.1)


def refuses_to_start(module: str, extra: dict[str, str]) -> dict[str, Any]:
    """Start `python -m module` with a clean environment plus `extra`; how it ended (code 1 + one line wanted)."""
    prefixes = ("TEMPORAL_", "CALLBACK_", "SERVICE_", "STAGEGATE_", "WORKER_", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(PYTHONUNBUFFERED="1", LOG_FORMAT="json", TEMPORAL_ADDRESS="127.0.0.1:1", **extra)
    try:
        done = subprocess.run(  # noqa: S603  # our own interpreter and module
            [sys.executable, "-m", module],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"code": None, "lines": ["still running after 60 s (it started)"], "refused": False}
    lines = done.stderr.splitlines()
    return {"code": done.returncode, "lines": lines, "refused": done.returncode == 1 and len(lines) == 1}


async def run(args: argparse.Namespace) -> GuardRow:
    rng = random.Random(args.seed)  # noqa: S311  # which run each forged try aims at
    extra = {"CALLBACK_SIGNING_SECRETS": "", "STAGEGATE_DEV_MODE": "1"} if args.dev_mode else {}
    inp = StagedRunInput(stages=2, time_to_request=0.05, time_to_callback=args.time_to_callback)
    modes = list(Mode)
    async with lab("forged", extra_env=extra) as lab_:
        inputs = [replace(inp, mode=m) for m in modes for _ in range(args.runs_per_mode)]
        handles = await start_runs(lab_.client, lab_.task_queue, inputs)
        answers: Counter[int] = Counter()
        transport = 0
        async with httpx.AsyncClient(timeout=30) as http:
            targets = [
                Target.from_url(mode, await stage_one_url(http, lab_, h))
                for mode, h in zip([i.mode for i in inputs], handles, strict=True)
            ]
            dev = Keys(url_secret=DEV_SIGNING_SECRET, sender_key="")
            for i in range(args.tries):
                target = targets[i % len(targets)] if i < len(targets) else rng.choice(targets)
                query = "&".join(f"{k}={v}" for k, v in _signed(target, dev))
                try:
                    answer = await http.post(
                        f"{lab_.stack.callback_url}{target.path}?{query}", content=FORGED_BODY, headers=JSON
                    )
                    answers[answer.status_code] += 1
                except httpx.HTTPError:
                    transport += 1
        ends = await wait_all(handles, timeout=args.time_to_callback * 4 + 120)
        errors = server_errors(lab_.service_log)
    t = tally(handles, ends, stages=2)
    forged_advanced = sum(1 for e in ends if e and e.result for s in e.result.stages if s.result == FORGED_RESULT)
    starts = {what: refuses_to_start(module, env) for what, module, env in EXPOSED}
    started = [what for what, r in starts.items() if not r["refused"]]
    not_403 = sum(n for status, n in answers.items() if status != 403) + transport
    five = sum(n for s, n in answers.items() if s >= 500) + sum(n for s, n in errors.items() if s != 503)
    observed = (
        f"forged answers {dict(sorted(answers.items()))}; stages advanced by a forged callback: {forged_advanced}; "
        f"{t.completed}/{t.runs} runs completed; {len(starts) - len(started)}/"
        f"{len(starts)} exposed starts refused (exit 1, one line)"
    )
    return GuardRow(
        fault="callbacks forged with the source's development secret at a worker and callback server started "
        "without the development flag; worker and callback server started on non-loopback addresses without a "
        "real secret" + (" [--dev-mode: rule broken on purpose]" if args.dev_mode else ""),
        tries=f"{args.tries} forged POSTs at {len(handles)} waiting runs ({args.runs_per_mode} per mode); "
        f"{len(starts)} exposed starts",
        expected="every forged try 403, 0 stages advanced by one; every exposed start exits 1 with one line",
        observed=observed,
        lost=t.lost,
        double_advanced=t.double_advanced,
        five_xx=five,
        via_reconcile=f"{t.runs_via_reconcile} runs ({t.stages_via_reconcile} stages)",
        command=COMMAND,
        breaches={"forged_not_403": not_403, "forged_advanced": forged_advanced, "exposed_started": len(started)},
        detail={"answers": dict(answers), "tally": t, "starts": starts, "service_5xx": dict(errors)},
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="just reliability-row forged", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs-per-mode", type=int, default=4, help="runs waiting per mode (default 4)")
    parser.add_argument("--tries", type=int, default=60, help="forged POSTs in all (default 60)")
    parser.add_argument("--time-to-callback", type=float, default=8.0, help="seconds each stage waits (default 8)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dev-mode", action="store_true", help="break the rule: run the lab on the dev secret")
    args = parser.parse_args(argv)
    asyncio.run(run(args)).emit()


if __name__ == "__main__":
    main()
