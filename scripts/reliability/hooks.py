"""Row: fixed endpoints `POST /hooks/{source}` (issue 20) under worker SIGKILL, callback server and Temporal outages.

    uv run python -m scripts.reliability.hooks [--fault kills|callback-down|temporal-down|deliveries ...]
        [--runs 12] [--kills 6] [--callback-down 60] [--temporal-down 180] [--seed 1]

Pipeline runs of two stages, each paying a Stripe-style vendor (`hook_vendor.py`) that answers with its own
payment-intent ID and sends every event of the account, SDK-signed, to ONE endpoint (`/hooks/pay`), retrying
non-2xx answers with backoff. Every event goes out 3x; plans rotate on time / early (the final event before the
create request is answered) / out of order (final first, processing after). Modes rotate signal/token/update.

Each `--fault` is a phase with its own batch of `--runs` runs, which end before the next phase begins (default: all
four, one after another):
`kills` SIGKILLs one of two workers at random moments (restarted at once); `callback-down` SIGKILLs the callback
server while the events fire and starts it again after `--callback-down` s; `temporal-down` SIGKILLs the dev
server for `--temporal-down` s (the endpoint must answer 503 with Retry-After); `deliveries` adds no process
fault. A stage counts only if it completed exactly once with its own intent's `succeeded` event; every
mailbox is queried at the end (no event ID delivered twice, at most one advance), and the mailboxes still open
after their end rules had time to act are counted (they must be 0). Exit code 0 when nothing was lost or
double-advanced, no answer was a 5xx other than 503 + Retry-After, and no mailbox stayed open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from app.gate.hook_types import MAILBOX_WORKFLOW_NAME, QUERY_MAILBOX_STATUS, MailboxStatus, mailbox_id
from app.gate.types import Mode, Outcome, StageRecord
from app.pipeline.file import parse_pipeline
from app.pipeline.types import Pipeline, PipelineResult, PipelineRunInput
from app.starter import start_pipeline_run
from scripts.bench.stub_service import StubServer
from scripts.reliability.foreign_bodies import _seconds
from scripts.reliability.hook_vendor import HookVendor, Plan
from scripts.reliability.lab import Lab, lab
from scripts.reliability.tally import Row, Tally
from scripts.reliability.worker_kills import kill_at_random
from scripts.stack.dev_server import connect
from scripts.stack.processes import free_port

SOURCE = "pay"
STAGES = ("charge", "refill")
STAGE_TIMEOUT = 300.0  # longer than the Temporal outage: the stage's time remains when it is back
MAILBOX_TTL = 90.0  # a late repeat that finds no mailbox opens one that lives this long (the lab's TTL)
SEND_DRAIN_SECONDS = 120.0
FAULTS = ("kills", "callback-down", "temporal-down", "deliveries")

Handle = WorkflowHandle[object, PipelineResult]


def pipeline(vendor_url: str) -> Pipeline:
    """Two stages that each pay, and wait on the payment intent's ID at the fixed endpoint (JSON is YAML)."""

    def stage(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "timeout": f"{STAGE_TIMEOUT:g}s",
            "request": {
                "method": "POST",
                "url": f"{vendor_url}/v1/payment_intents",
                "body": {
                    "amount": 1200,
                    "metadata": {"run": "${workflow_id}", "stage": "${stage}", "plan": "${input.plan}"},
                },
            },
            "answer_id": "id",
            "wait": {"source": SOURCE, "key": "${answer.id}"},
            "callback": {
                "outcome": "type",
                "values": {
                    "completed": ["payment_intent.succeeded"],
                    "failed": ["payment_intent.payment_failed"],
                    "cancelled": ["payment_intent.canceled"],
                    "progress": ["payment_intent.processing"],
                },
                "result": "data.object",
            },
        }

    doc = {
        "version": 1,
        "name": "hooks-row",
        "input": {"example": {"plan": "on_time"}},
        "stages": [stage(n) for n in STAGES],
    }
    return parse_pipeline(json.dumps(doc), source="hooks-row.yaml")


def stage_problem(record: StageRecord, jobs: Sequence[str]) -> str | None:
    """Why this stage did not complete with the `succeeded` event of one of ITS OWN intents, or None."""
    if record.outcome is not Outcome.COMPLETED:
        return f"outcome {record.outcome.value}: {record.error}"
    result = record.result if isinstance(record.result, dict) else {}
    if result.get("id") not in jobs:
        return f"result of intent {result.get('id')!r}, not one of its own {list(jobs)}"
    if result.get("status") != "succeeded":
        return f"result status {result.get('status')!r}, not the succeeded event's"
    return None


def mailbox_problem(status: MailboxStatus) -> str | None:
    """Why a mailbox's log shows an event ID handed to its stage more than once (its dedupe failed), or None.

    Every event goes out 3x, so each ID must be delivered once and answered `duplicate` after that; the gate
    dedupes again behind it, which is why the row looks here too and not only at the stage records."""
    delivered = Counter(e.event_id for e in status.log if e.outcome == "delivered")
    twice = sorted(event for event, n in delivered.items() if n > 1)
    if twice:
        return f"{status.key}: event(s) {twice} delivered more than once"
    return None


@dataclass(frozen=True)
class Judgement:
    """The row's count of what happened to the runs and mailboxes."""

    tally: Tally
    problems: list[str]


def judge(
    handles: Sequence[Handle],
    ends: Sequence[PipelineResult | str],
    jobs_of: Any,
    mailboxes: Sequence[MailboxStatus],
) -> Judgement:
    """Lost runs (not completed); double-advanced runs (a stage not exactly once with its own event, or its
    mailbox delivered an event twice)."""
    problems: list[str] = []
    lost_ids: list[str] = []
    failures: Counter[str] = Counter()
    doubled: set[str] = set()
    records: list[StageRecord] = []
    for handle, end in zip(handles, ends, strict=True):
        if isinstance(end, str):
            lost_ids.append(handle.id)
            failures[end] += 1
            continue
        records += end.stages
        names = [str(s.stage) for s in end.stages]
        found = [p for s in end.stages if (p := stage_problem(s, jobs_of(handle.id, str(s.stage)))) is not None]
        if names != list(STAGES) or found:
            doubled.add(handle.id)
            problems.append(f"{handle.id}: stages {names}; {'; '.join(found)}")
    for status in mailboxes:
        if (problem := mailbox_problem(status)) is not None:
            run = status.waiter.workflow_id if status.waiter is not None else status.key
            doubled.add(run)
            problems.append(problem)
    durations = sorted(_seconds(s.requested_at, s.advanced_at) for s in records)
    tally = Tally(
        runs=len(handles),
        completed=len(handles) - len(lost_ids),
        lost=len(lost_ids),
        double_advanced=len(doubled),
        stages_via_reconcile=0,  # no `status:` URL: nothing to reconcile with
        runs_via_reconcile=0,
        requests_repeated=sum(s.requests_repeated for s in records),
        stages_retried=sum(1 for s in records if s.attempts > 1),
        duplicates_ignored=sum(s.duplicates_ignored for s in records),
        slowest_stage_seconds=round(durations[-1], 2) if durations else 0.0,
        p95_stage_seconds=round(durations[int(0.95 * (len(durations) - 1))], 2) if durations else 0.0,
        failures=dict(failures),
        lost_ids=lost_ids[:20],
    )
    return Judgement(tally, problems)


async def _end(handle: Handle, timeout: float) -> PipelineResult | str:
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except WorkflowFailureError as err:
        return f"failed: {type(err.cause).__name__}"
    except TimeoutError:
        return "not closed in time"


async def _start(lb: Lab, flow: Pipeline, picks: Sequence[tuple[Mode, Plan]], spread: float) -> list[Handle]:
    handles: list[Handle] = []
    began = time.monotonic()
    for i, (mode, plan) in enumerate(picks):
        await asyncio.sleep(max(0.0, began + spread * i / len(picks) - time.monotonic()))
        handles.append(
            await start_pipeline_run(lb.client, lb.task_queue, PipelineRunInput(flow, {"plan": plan.value}, mode))
        )
    return handles


async def _mailboxes(client: Client, keys: Sequence[str]) -> tuple[list[MailboxStatus], int]:
    """Every key's mailbox status (closed ones too: a query replays them); how many could not be queried."""
    found: list[MailboxStatus] = []
    missing = 0
    for key in keys:
        handle = client.get_workflow_handle(mailbox_id(SOURCE, key))
        try:
            found.append(await asyncio.wait_for(handle.query(QUERY_MAILBOX_STATUS, result_type=MailboxStatus), 30))
        except (RPCError, TimeoutError, WorkflowFailureError):
            missing += 1
    return found, missing


async def open_mailboxes(client: Client) -> int:
    """Mailbox workflows still running (visibility: fine for a count at the end, never on the correctness path)."""
    query = f"WorkflowType = '{MAILBOX_WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
    return (await client.count_workflows(query)).count


async def _wait_mailboxes_end(client: Client, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    n = await open_mailboxes(client)
    while n and time.monotonic() < deadline:
        await asyncio.sleep(5.0)  # a poll of a count for the report, not a wait on the correctness path
        n = await open_mailboxes(client)
    return n


def _picks(runs: int, offset: int) -> list[tuple[Mode, Plan]]:
    modes, plans = list(Mode), list(Plan)
    return [(modes[(offset + i) % 3], plans[((offset + i) // 3 + i) % 3]) for i in range(runs)]


@dataclass(frozen=True)
class Options:
    """One invocation's choices."""

    faults: tuple[str, ...]
    runs: int
    kills: int
    callback_down: float
    temporal_down: float
    seed: int

    @property
    def command(self) -> str:
        text = f"just reliability-row hooks --fault {' --fault '.join(self.faults)} --runs {self.runs}"
        text += f" --seed {self.seed}" + (f" --kills {self.kills}" if "kills" in self.faults else "")
        text += f" --callback-down {self.callback_down:g}" if "callback-down" in self.faults else ""
        return text + (f" --temporal-down {self.temporal_down:g}" if "temporal-down" in self.faults else "")

    def describe(self, fault: str) -> str:
        return {
            "kills": f"{self.kills} worker SIGKILLs (2 workers)",
            "callback-down": f"callback server down {self.callback_down:g} s",
            "temporal-down": f"Temporal down {self.temporal_down:g} s",
            "deliveries": "no process fault",
        }[fault]


async def _phase(  # one phase needs the whole world
    lb: Lab, vendor: HookVendor, flow: Pipeline, fault: str, picks: Sequence[tuple[Mode, Plan]], opts: Options,
    rng: random.Random, log: list[str],
) -> list[Handle]:  # fmt: skip
    """Start one fault's batch of runs and do its fault to the stack."""
    if fault == "kills":
        vendor.delay = (0.5, 4.0)
        window = max(30.0, opts.runs * 2.0)
        killing = asyncio.ensure_future(kill_at_random(lb, kills=opts.kills, window=window, rng=rng))
        handles = await _start(lb, flow, picks, window)
        log.append("kills: " + ", ".join(await killing))
        return handles
    if fault == "callback-down":
        vendor.delay = (4.0, 4.0 + opts.callback_down)  # the events fire while the server is down
        handles = await _start(lb, flow, picks, 2.0)
        await asyncio.sleep(3.0)
        lb.stack.kill("callback_server")
        log.append(f"callback server down {opts.callback_down:g} s")
        await asyncio.sleep(opts.callback_down)
        await asyncio.to_thread(lb.stack.start, "callback_server")
        return handles
    if fault == "temporal-down":
        vendor.delay = (3.0, 40.0)  # the events fire while Temporal is down: the endpoint answers 503
        handles = await _start(lb, flow, picks, 2.0)
        await asyncio.sleep(5.0)
        lb.server.kill()
        log.append(f"temporal down {opts.temporal_down:g} s")
        await asyncio.sleep(opts.temporal_down)
        await asyncio.to_thread(lb.server.start)
        await connect(lb.server.address)
        dead = [w for w in lb.stack.workers if not lb.stack.alive(w)]
        for worker in dead:
            await asyncio.to_thread(lb.stack.start, worker)
        log.append(f"workers restarted after the outage: {len(dead)}")
        return handles
    vendor.delay = (0.5, 4.0)
    return await _start(lb, flow, picks, max(10.0, opts.runs * 1.0))


def five_xx(vendor: HookVendor) -> dict[int, int]:
    """5xx answers by status; a 503 without Retry-After is not the documented answer: counted as a 500."""
    five = {status: n for status, n in vendor.answers.items() if status >= 500}
    if vendor.bare_503:
        five[500] = five.get(500, 0) + vendor.bare_503
        five[503] = five.get(503, 0) - vendor.bare_503
    return {status: n for status, n in five.items() if n}


async def run(opts: Options) -> tuple[Row, int]:
    """The row; and how many mailboxes were still open (or could not be checked) at the end."""
    rng = random.Random(opts.seed)  # noqa: S311  # timing, not cryptography
    secret = f"whsec_{secrets.token_hex(16)}"
    env = {
        "STAGEGATE_EGRESS_HOSTS": "127.0.0.1",
        "STAGEGATE_HOOK_SOURCES": f"{SOURCE}:stripe",
        "STAGEGATE_HOOK_PAY_SECRET": secret,
        "STAGEGATE_HOOK_PAY_KEY_PATH": "data.object.id",
        "STAGEGATE_HOOK_PAY_EVENT_ID_PATH": "id",
        "STAGEGATE_HOOK_PAY_TTL": f"{MAILBOX_TTL:g}",
    }
    vendor = HookVendor(secret, rng=random.Random(opts.seed + 1000))  # noqa: S311
    handles: list[Handle] = []
    ends: list[PipelineResult | str] = []
    lost_by_phase: dict[str, int] = {}
    log: list[str] = []
    async with (
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
        StubServer(vendor, free_port()) as vendor_server,
        lab("hooks-" + "-".join(opts.faults), workers=2, extra_env=env) as lb,
    ):
        vendor.http, vendor.endpoint = http, f"{lb.stack.callback_url}/hooks/{SOURCE}"
        flow = pipeline(vendor_server.url)
        began = time.monotonic()
        for n, fault in enumerate(opts.faults):
            log.append(f"{time.monotonic() - began:.0f} s: phase {fault}")
            batch = await _phase(lb, vendor, flow, fault, _picks(opts.runs, n * opts.runs), opts, rng, log)
            # Each phase's runs end before the next fault: a stage meets one fault, not the next ones too.
            batch_ends = await asyncio.gather(*(_end(h, len(STAGES) * STAGE_TIMEOUT + 60) for h in batch))
            handles += batch
            ends += batch_ends
            lost_by_phase[fault] = sum(1 for e in batch_ends if isinstance(e, str))
        await vendor.drain(timeout=SEND_DRAIN_SECONDS)
        mailboxes, unqueried = await _mailboxes(lb.client, list(vendor.intents))
        # End rules: 60 s after a final outcome settled; a late repeat's new mailbox lives for its TTL.
        still_open = await _wait_mailboxes_end(lb.client, timeout=MAILBOX_TTL + 90.0)
        took = time.monotonic() - began
    judgement = judge(handles, ends, vendor.jobs_of, mailboxes)
    for line in log + [f"problem: {p}" for p in judgement.problems[:20]]:
        print(line)
    row = Row(
        fault=(
            "fixed endpoint `/hooks/pay` (Stripe-style vendor: account-wide SDK-signed events, each sent 3x, "
            "on time / early / out of order, retried with backoff on non-2xx): "
            + "; ".join(opts.describe(f) for f in opts.faults)
        ),
        tries=f"{len(handles)} pipeline runs x {len(STAGES)} stages ({opts.runs} per fault), modes rotate",
        expected="every stage completes once with its own intent's event; repeats answered duplicate; mailboxes end",
        tally=judgement.tally,
        server_errors=five_xx(vendor),
        command=opts.command,
        notes=(
            f"endpoint answers {dict(sorted(vendor.answers.items()))} (0: no connection); "
            f"lost by phase {lost_by_phase}; "
            f"{vendor.bare_503} 503 without Retry-After; {vendor.given_up} sends given up; "
            f"{len(mailboxes)} mailboxes checked ({unqueried} not queryable); open mailboxes at the end: {still_open}; "
            f"row took {took:.0f} s"
        ),
    )
    return row, still_open + unqueried


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hooks", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fault", choices=FAULTS, action="append", help="a phase (repeatable; default all four)")
    parser.add_argument("--runs", type=int, default=12, help="runs per fault phase")
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--callback-down", type=float, default=60.0, help="seconds the callback server stays down")
    parser.add_argument("--temporal-down", type=float, default=180.0, help="seconds Temporal stays down")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    faults = tuple(args.fault or FAULTS)
    opts = Options(faults, args.runs, args.kills, args.callback_down, args.temporal_down, args.seed)
    row, open_left = asyncio.run(run(opts))
    row.emit()
    return 0 if row.ok and not open_left else 1


if __name__ == "__main__":
    sys.exit(main())
