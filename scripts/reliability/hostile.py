"""Hostile input at the callback server while real runs wait at their gates: the RELIABILITY.md row.

    just reliability-row hostile [--tries 50] [--runs-per-mode 10] [--json-out FILE]

Starts its own Temporal dev server (or uses --temporal-address), the service mock, the callback server and a
worker on free loopback ports, with Standard Webhooks body signatures on (the worker names the sender in its
URLs, the mock signs, the server verifies). Starts real runs in every mode whose first stage waits for the
service's callback, fires every class of `scripts/reliability/hostile_inputs.py` at their callback URLs, then waits for
the runs to end. Prints a JSON summary and a markdown table row: tries, answers by status, 5xx (goal 0), runs
lost (goal 0), runs double-advanced (goal 0: a stage resolved by anything but the service's own callback, or
a replayed webhook-id taken twice). Exit code 0 when every goal holds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from app.demo.payloads import RunResult, StagedRunInput
from app.gate.types import Mode, Outcome
from app.starter import start_staged_run
from scripts.reliability.hostile_inputs import CLASSES, MODES, REPLAY, HostileRequest, Keys, Target
from scripts.stack.dev_server import DevServer
from scripts.stack.processes import ROOT, ManagedProcess, find_temporal_cli, free_port
from scripts.stack.runs import wait_end
from scripts.stack.services import local_stack

LOG_DIR = ROOT / ".state" / "reliability-hostile"
SENDER = "svc"
COMMAND = "just reliability-row hostile"


@dataclass(frozen=True)
class Options:
    """What one run of the script does."""

    tries: int = 50
    runs_per_mode: int = 10
    time_to_callback: float = 15.0
    concurrency: int = 16
    seed: int = 1
    temporal_address: str | None = None
    json_out: Path | None = None


@dataclass
class ClassResult:
    """How the callback server answered one class of hostile input."""

    tries: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status >= 500)

    @property
    def client_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if 400 <= status < 500)


@dataclass(frozen=True)
class Summary:
    """Everything the row needs, and the detail behind it."""

    classes: dict[str, ClassResult]
    runs: int
    runs_lost: list[str]
    double_advanced: list[str]
    unexpected_2xx: int

    @property
    def tries(self) -> int:
        return sum(c.tries for c in self.classes.values())

    @property
    def server_errors(self) -> int:
        return sum(c.server_errors for c in self.classes.values())

    @property
    def client_errors(self) -> int:
        return sum(c.client_errors for c in self.classes.values())

    @property
    def ok(self) -> bool:
        transport = sum(c.transport_errors for c in self.classes.values())
        return not (self.server_errors or self.runs_lost or self.double_advanced or self.unexpected_2xx or transport)

    def as_json(self) -> dict[str, Any]:
        return {
            "tries": self.tries,
            "classes": {
                name: {
                    "tries": c.tries,
                    "by_status": {str(k): v for k, v in sorted(c.by_status.items())},
                    "transport_errors": c.transport_errors,
                }
                for name, c in self.classes.items()
            },
            "answers_4xx": self.client_errors,
            "answers_5xx": self.server_errors,
            "unexpected_2xx": self.unexpected_2xx,
            "runs": self.runs,
            "runs_lost": len(self.runs_lost),
            "runs_double_advanced": len(self.double_advanced),
            "lost": self.runs_lost,
            "double_advanced": self.double_advanced,
            "ok": self.ok,
        }

    def markdown_row(self) -> str:
        replay = self.classes.get(REPLAY, ClassResult())
        taken = sum(n for status, n in replay.by_status.items() if 200 <= status < 300)
        return (
            f"| {len(self.classes)} classes of hostile input x {self.tries // max(1, len(self.classes))} tries "
            f"at the callback server while {self.runs} runs wait at their gates | {self.tries} | "
            f"every try refused with a 4xx, except replays of one signed webhook-id (taken at most once) | "
            f"4xx: {self.client_errors}; 2xx: {taken} (replays); 5xx: {self.server_errors} | "
            f"{len(self.runs_lost)} | {len(self.double_advanced)} | {self.server_errors} | `{COMMAND}` |"
        )


@dataclass(frozen=True)
class Stack:
    """The processes this script started and where they listen."""

    callback_url: str
    service_url: str
    task_queue: str
    keys: Keys
    processes: list[ManagedProcess]


@asynccontextmanager
async def temporal(address: str | None) -> AsyncIterator[str]:
    """The given Temporal address, or a dev server of our own for the script's lifetime."""
    if address is not None:
        yield address
        return
    server = DevServer(cli=find_temporal_cli(), port=free_port(), log_dir=LOG_DIR)
    try:
        await asyncio.to_thread(server.start)
        yield server.address
    finally:
        await asyncio.to_thread(server.stop)


@asynccontextmanager
async def app_stack(address: str) -> AsyncIterator[Stack]:
    """Service mock, callback server and worker with body signatures on, stopped by pid at the end."""
    keys = Keys(
        url_secret=f"hostile-{uuid.uuid4().hex}", sender_key="whsec_" + base64.b64encode(os.urandom(24)).decode()
    )
    task_queue = f"hostile-{uuid.uuid4().hex[:8]}"
    stack = await asyncio.to_thread(
        local_stack,
        address,
        LOG_DIR,
        task_queue=task_queue,
        signing_secret=keys.url_secret,
        extra_env={
            "CALLBACK_WEBHOOK_SENDERS": f"{SENDER}={keys.sender_key}",
            "CALLBACK_WEBHOOK_SENDER": SENDER,
            "SERVICE_WEBHOOK_KEYS": keys.sender_key,
            "LOG_LEVEL": "WARNING",  # a thousand refusals would otherwise fill the logs
        },
    )
    try:
        processes = list(stack.processes.values())
        yield Stack(stack.callback_url, stack.service_url, task_queue, keys, processes)
    finally:
        await asyncio.to_thread(stack.stop)


async def _job(http: httpx.AsyncClient, stack: Stack, handle: WorkflowHandle[Any, RunResult], stage: int) -> Any:
    """The service's job for a stage (it holds the callback URL it was given and the final callback it sent)."""
    key = f"{handle.id}/{handle.result_run_id}/{stage}"
    async with asyncio.timeout(60):
        while True:
            jobs = (await http.get(f"{stack.service_url}/jobs", params={"idempotency_key": key})).json()
            if jobs:
                return jobs[0]
            await asyncio.sleep(0.1)


async def _fire(
    http: httpx.AsyncClient, stack: Stack, request: HostileRequest, result: ClassResult, limit: asyncio.Semaphore
) -> None:
    async with limit:
        result.tries += 1
        try:
            answer = await http.post(
                f"{stack.callback_url}{request.path}?{request.query}",
                content=request.body,
                headers=request.headers,
                timeout=30,
            )
        except httpx.HTTPError:
            result.transport_errors += 1
            return
        result.by_status[answer.status_code] += 1


def _stage_problems(end_result: RunResult, jobs: dict[int, Any], replayed: bool) -> list[str]:
    """Why a finished run's stages were not each resolved once, by the service's own callback."""
    problems: list[str] = []
    for record in end_result.stages:
        final = (jobs.get(int(record.stage)) or {}).get("final") or {}
        if record.result != final.get("result"):
            problems.append(f"stage {record.stage}: result {record.result!r} is not the service's {final!r}")
        if replayed and int(record.stage) == 1 and record.progress > 1:
            problems.append(f"stage 1: a replayed webhook-id was taken {record.progress} times")
    return problems


async def _start_runs(
    client: Client, stack: Stack, options: Options
) -> list[tuple[Mode, WorkflowHandle[Any, RunResult]]]:
    inp = StagedRunInput(
        stages=2, time_to_request=0.05, time_to_callback=options.time_to_callback, stage_timeout_seconds=300
    )
    return [
        (mode, await start_staged_run(client, stack.task_queue, replace(inp, mode=mode)))
        for mode in Mode
        for _ in range(options.runs_per_mode)
    ]


async def _fire_all(
    http: httpx.AsyncClient, stack: Stack, targets: list[Target], options: Options
) -> tuple[dict[str, ClassResult], set[str]]:
    """Every class, `tries` times, round-robin over the targets it applies to; also which runs got replays."""
    rng = random.Random(options.seed)  # noqa: S311  # reproducible choice of variants, not cryptography
    classes = {name: ClassResult() for name in CLASSES}
    limit = asyncio.Semaphore(options.concurrency)
    replayed: set[str] = set()
    pending = []
    for name, builder in CLASSES.items():
        aimed = [t for t in targets if t.mode in MODES.get(name, tuple(Mode))]
        for i in range(options.tries):
            target = aimed[i % len(aimed)]
            if name == REPLAY:
                replayed.add(target.params["wf"])
            pending.append(_fire(http, stack, builder(target, stack.keys, rng, i), classes[name], limit))
    started = time.monotonic()
    await asyncio.gather(*pending)
    print(f"fired {len(pending)} hostile requests in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return classes, replayed


async def run(options: Options) -> Summary:
    """Start everything, fire while the runs wait, check the runs, stop everything."""
    async with temporal(options.temporal_address) as address, app_stack(address) as stack:
        client = await Client.connect(address)
        runs = await _start_runs(client, stack, options)
        async with httpx.AsyncClient() as http:
            targets = [Target.from_url(mode, (await _job(http, stack, h, 1))["callback_url"]) for mode, h in runs]
            classes, replayed = await _fire_all(http, stack, targets, options)
            lost: list[str] = []
            double: list[str] = []
            for _, handle in runs:
                end = await wait_end(handle, timeout=options.time_to_callback * 2 + 120)
                if end.result is None or any(s.outcome is not Outcome.COMPLETED for s in end.result.stages):
                    lost.append(f"{handle.id}: {end.error_type or 'not completed'}")
                    continue
                jobs = {stage: await _job(http, stack, handle, stage) for stage in (1, 2)}
                double += [f"{handle.id}: {p}" for p in _stage_problems(end.result, jobs, handle.id in replayed)]
    unexpected = sum(
        n for name, c in classes.items() if name != REPLAY for status, n in c.by_status.items() if status < 400
    )
    return Summary(classes=classes, runs=len(runs), runs_lost=lost, double_advanced=double, unexpected_2xx=unexpected)


def _parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="just reliability-row hostile", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=50, help="tries per class (default 50)")
    parser.add_argument("--runs-per-mode", type=int, default=10, help="real runs waiting, per mode (default 10)")
    parser.add_argument("--time-to-callback", type=float, default=15.0, help="seconds the runs wait per stage (15)")
    parser.add_argument("--concurrency", type=int, default=16, help="hostile requests in flight (default 16)")
    parser.add_argument("--seed", type=int, default=1, help="variant choice seed (default 1)")
    parser.add_argument("--temporal-address", help="use this Temporal instead of starting a dev server")
    parser.add_argument("--json-out", type=Path, help="also write the JSON summary to this file")
    args = parser.parse_args(argv)
    for name in ("tries", "runs_per_mode", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Options(
        tries=args.tries,
        runs_per_mode=args.runs_per_mode,
        time_to_callback=args.time_to_callback,
        concurrency=args.concurrency,
        seed=args.seed,
        temporal_address=args.temporal_address,
        json_out=args.json_out,
    )


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: `just reliability-row hostile`."""
    options = _parse(argv)
    # SIGTERM unwinds like Ctrl-C, so the processes this script started are stopped by their pids.
    signal.signal(signal.SIGTERM, _terminate)
    summary = asyncio.run(run(options))
    document = json.dumps(summary.as_json(), indent=2)
    print(document)
    if options.json_out is not None:
        options.json_out.write_text(document + "\n")
    print(summary.markdown_row())
    sys.exit(0 if summary.ok else 1)


if __name__ == "__main__":
    main()
