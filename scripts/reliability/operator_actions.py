"""Operator actions on waiting stages (issue 21 item 6), with the sender's answers tallied: the table row.

    just reliability-row operator_actions [--rounds 1] [--seed 1]

A lab whose service mock takes each stage's request but never calls back (`action: ignore`): the row is the
service, posting the callback URL it was given, and the operator is the real `temporal` CLI. Per round and mode:
`workflow cancel`, `workflow terminate`, `workflow reset` to before stage 2, a late stage-1 callback after the run
continued as new; in token mode also `activity pause` / `unpause` on each waiting stage. Every answer is judged
against docs/operations.md ("Operator actions"). Goal: every answer as documented (never 5xx), every run the
operator did not end completes, no `WorkflowTaskFailed` in any history. The cases run concurrently in a seeded
order. The pure judge is unit-tested (tests/scripts/test_reliability_guards.py) with a wrong answer and a lost run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from app.demo.payloads import ACTIVITY_AWAIT_STAGE_CALLBACK, ACTIVITY_REQUEST_STAGE, Action, RunResult, StagedRunInput
from app.gate.types import Mode, Outcome, WaitingFor
from app.starter import start_staged_run
from scripts.reliability.guard_row import GuardRow
from scripts.reliability.lab import Lab, lab
from scripts.stack.processes import find_temporal_cli
from scripts.stack.runs import wait_end, wait_status

COMMAND = "just reliability-row operator_actions --seed N"
STAGE_TIMEOUT = 120.0
CLI_TIMEOUT_S = 60.0
# The WorkflowTaskFailed marks the server writes for the operator's own action, not failures of the run's code:
# `workflow reset` where it cut the history, and `workflow terminate` that lands while a workflow task is running
# (the history service force-closes that task).
BY_OPERATOR = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
}
Handle = WorkflowHandle[Any, RunResult]
Expected = tuple[int, str | None]  # status, error code (None: a 2xx)

CLOSED: dict[Mode, Expected] = {
    Mode.SIGNAL: (409, "workflow_closed"),
    Mode.TOKEN: (409, "activity_not_open"),
    Mode.UPDATE: (409, "workflow_closed"),
}
LATE: dict[Mode, Expected] = {
    Mode.SIGNAL: (202, None),
    Mode.TOKEN: (409, "activity_not_open"),
    Mode.UPDATE: (409, "stale_stage"),
}


ENDED_BY_OPERATOR = {"cancel": "canceled", "terminate": "terminated"}


def ok_answer(mode: Mode) -> Expected:
    return (200 if mode is Mode.UPDATE else 202, None)


@dataclass
class Case:
    """One operator action on one run: the answers the sender got vs the documented ones, and how the run ended."""

    action: str
    mode: Mode
    operator_ends_run: bool
    answers: list[tuple[str, Expected, Expected]] = field(default_factory=list)  # (what, got, expected)
    end: str = "not checked"  # completed | canceled | terminated | lost: ...
    task_failures: int = 0


@dataclass(frozen=True)
class Verdict:
    """What the judge counted over all cases."""

    answers: int
    wrong_answers: list[str]
    five_xx: int
    lost: list[str]
    task_failures: int


def judge(cases: Sequence[Case]) -> Verdict:
    """Answers off the documented table, 5xx, runs lost (not ended by the operator and not completed)."""
    wrong = [
        f"{c.action}/{c.mode.value} {what}: got {got}, documented {want}"
        for c in cases
        for what, got, want in c.answers
        if got != want
    ]
    five = sum(1 for c in cases for _, got, _ in c.answers if got[0] >= 500)
    lost = [
        f"{c.action}/{c.mode.value}: {c.end}" for c in cases if c.end != ENDED_BY_OPERATOR.get(c.action, "completed")
    ]
    return Verdict(sum(len(c.answers) for c in cases), wrong, five, lost, sum(c.task_failures for c in cases))


class Operator:
    """The lab, the `temporal` CLI, and the service's side (the callback URLs the mock was given)."""

    def __init__(self, lab_: Lab, http: httpx.AsyncClient) -> None:
        self.lab = lab_
        self.http = http
        self.cli = os.environ.get("TEMPORAL_CLI") or str(find_temporal_cli())

    async def temporal(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.cli,
            *args,
            "--address",
            self.lab.server.address,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"temporal {' '.join(args)}: {stderr.decode(errors='replace')[:300]}")

    async def start(self, mode: Mode, stages: int, continue_after: int = 0) -> Handle:
        inp = StagedRunInput(
            mode=mode,
            stages=stages,
            actions=[Action.IGNORE],
            stage_timeout_seconds=STAGE_TIMEOUT,
            continue_as_new_after_stages=continue_after,
        )
        return await start_staged_run(self.lab.client, self.lab.task_queue, inp)

    async def url(self, handle: Handle, stage: int, *, not_: str | None = None) -> str:
        """The newest callback URL the service holds for the stage (other than `not_`)."""
        key = f"{handle.id}/{handle.result_run_id}/{stage}"
        async with asyncio.timeout(30):
            while True:
                jobs = (
                    await self.http.get(f"{self.lab.stack.service_url}/jobs", params={"idempotency_key": key})
                ).json()
                if jobs and jobs[0]["callback_url"] != not_:
                    return str(jobs[0]["callback_url"])
                await asyncio.sleep(0.1)

    async def send(self, url: str, body: dict[str, Any]) -> Expected:
        answer = await self.http.post(url, json=body)
        data = answer.json()
        return answer.status_code, (data.get("error") if answer.status_code >= 400 else None)

    async def activity_id(self, handle: Handle) -> str:
        async with asyncio.timeout(30):
            while True:
                for pending in (await handle.describe()).raw_description.pending_activities:
                    if pending.activity_type.name == ACTIVITY_AWAIT_STAGE_CALLBACK and pending.attempt >= 1:
                        return str(pending.activity_id)
                await asyncio.sleep(0.1)

    async def waiting_at(self, handle: Handle, stage: int, mode: Mode) -> None:
        waits_for = WaitingFor.ACTIVITY_COMPLETION if mode is Mode.TOKEN else WaitingFor.CALLBACK
        await wait_status(handle, lambda s: s.current_stage == stage and s.waiting_for is waits_for, timeout=60)
        if mode is Mode.TOKEN:
            await self.activity_id(handle)

    async def finish(self, case: Case, handle: Handle) -> None:
        """How the run ended, and its task failures."""
        latest = self.lab.client.get_workflow_handle(handle.id, result_type=RunResult)
        if case.operator_ends_run:
            status = (await latest.describe()).status
            ended = {WorkflowExecutionStatus.CANCELED: "canceled", WorkflowExecutionStatus.TERMINATED: "terminated"}
            case.end = ended.get(status, f"lost: {status}") if status is not None else "lost: no status"
        else:
            end = await wait_end(latest, timeout=STAGE_TIMEOUT)
            done = end.result is not None and all(s.outcome is Outcome.COMPLETED for s in end.result.stages)
            case.end = "completed" if done else f"lost: {end.error_type or 'a stage did not complete'}"
        case.task_failures = task_failures((await latest.fetch_history()).events)


def task_failures(events: Iterable[HistoryEvent]) -> int:
    """WorkflowTaskFailed events of a run, but for the marks the operator's own reset or terminate leaves."""
    return sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and e.workflow_task_failed_event_attributes.cause not in BY_OPERATOR
    )


async def pause_unpause(op: Operator, case: Case) -> None:
    handle = await op.start(Mode.TOKEN, 2)
    for stage in (1, 2):
        await op.waiting_at(handle, stage, Mode.TOKEN)
        ids = ["--workflow-id", handle.id, "--activity-id", await op.activity_id(handle)]
        url = await op.url(handle, stage)
        await op.temporal("activity", "pause", *ids)
        got = await op.send(url, {"status": "progress", "progress": 1, "callback_id": f"p-{stage}"})
        case.answers.append((f"progress while paused (stage {stage})", got, (202, None)))
        if stage == 2:
            await op.temporal("activity", "unpause", *ids)
        got = await op.send(url, {"status": "completed", "callback_id": f"cb-{stage}"})
        case.answers.append((f"completed {'after unpause' if stage == 2 else 'while paused'}", got, (202, None)))
    await op.finish(case, handle)


async def cancel_or_terminate(op: Operator, case: Case) -> None:
    handle = await op.start(case.mode, 1)
    await op.waiting_at(handle, 1, case.mode)
    url = await op.url(handle, 1)
    extra = ["--reason", "reliability row"] if case.action == "terminate" else []
    await op.temporal("workflow", case.action, "--workflow-id", handle.id, *extra)
    await wait_end(handle, timeout=STAGE_TIMEOUT)
    for body in ({"status": "completed", "callback_id": "cb-1"}, {"status": "progress", "callback_id": "p-1"}):
        case.answers.append((f"{body['status']} after {case.action}", await op.send(url, body), CLOSED[case.mode]))
    await op.finish(case, handle)


async def reset(op: Operator, case: Case) -> None:
    mode = case.mode
    handle = await op.start(mode, 2)
    await op.waiting_at(handle, 1, mode)
    case.answers.append(
        (
            "stage 1",
            await op.send(await op.url(handle, 1), {"status": "completed", "callback_id": "cb-1"}),
            ok_answer(mode),
        )
    )
    await op.waiting_at(handle, 2, mode)
    old = await op.url(handle, 2)
    scheduled = [
        e
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name
        in (ACTIVITY_AWAIT_STAGE_CALLBACK, ACTIVITY_REQUEST_STAGE)
    ]
    event_id = scheduled[-1].activity_task_scheduled_event_attributes.workflow_task_completed_event_id
    await op.temporal(
        "workflow",
        "reset",
        "--workflow-id",
        handle.id,
        "--event-id",
        str(event_id),
        "--reason",
        "reliability row",
        "--yes",
    )
    latest = op.lab.client.get_workflow_handle(handle.id, result_type=RunResult)
    await op.waiting_at(latest, 2, mode)
    if mode is Mode.TOKEN:
        new = await op.url(handle, 2, not_=old)  # the service got the request again: the newest URL
        case.answers.append(
            (
                "old URL after reset",
                await op.send(old, {"status": "completed", "callback_id": "o"}),
                (409, "activity_not_open"),
            )
        )
        case.answers.append(
            ("newest URL after reset", await op.send(new, {"status": "completed", "callback_id": "n"}), ok_answer(mode))
        )
    else:
        case.answers.append(
            ("old URL after reset", await op.send(old, {"status": "completed", "callback_id": "o"}), ok_answer(mode))
        )
    await op.finish(case, handle)


async def continued_as_new(op: Operator, case: Case) -> None:
    mode = case.mode
    handle = await op.start(mode, 2, continue_after=1)
    await op.waiting_at(handle, 1, mode)
    first = await op.url(handle, 1)
    case.answers.append(
        ("stage 1", await op.send(first, {"status": "completed", "callback_id": "cb-1"}), ok_answer(mode))
    )
    latest = op.lab.client.get_workflow_handle(handle.id, result_type=RunResult)
    await wait_status(latest, lambda s: s.runs == 2 and s.current_stage == 2, timeout=60)
    await op.waiting_at(latest, 2, mode)
    case.answers.append(
        (
            "stage 1 again after continue-as-new",
            await op.send(first, {"status": "completed", "callback_id": "cb-1-again"}),
            LATE[mode],
        )
    )
    second = await op.url(handle, 2)
    case.answers.append(
        (
            "stage 2 of the new run",
            await op.send(second, {"status": "completed", "callback_id": "cb-2"}),
            ok_answer(mode),
        )
    )
    await op.finish(case, handle)


ACTIONS: dict[str, tuple[Callable[[Operator, Case], Awaitable[None]], bool]] = {
    "cancel": (cancel_or_terminate, True),
    "terminate": (cancel_or_terminate, True),
    "reset": (reset, False),
    "continue-as-new": (continued_as_new, False),
}


async def guarded(step: Awaitable[None], case: Case) -> None:
    try:
        await step
    except Exception as err:  # noqa: BLE001  # a case that broke is counted as lost, with why
        case.end = f"lost: {type(err).__name__}: {str(err)[:200]}"


async def run(args: argparse.Namespace) -> GuardRow:
    cases: list[Case] = []
    for _ in range(args.rounds):
        cases += [Case(a, m, ends) for a, (_, ends) in ACTIONS.items() for m in Mode]
        cases.append(Case("pause/unpause", Mode.TOKEN, False))
    random.Random(args.seed).shuffle(cases)  # noqa: S311  # the order the cases start in
    async with lab("operator_actions") as lab_, httpx.AsyncClient(timeout=30) as http:
        op = Operator(lab_, http)
        steps = [ACTIONS[c.action][0](op, c) if c.action in ACTIONS else pause_unpause(op, c) for c in cases]
        await asyncio.gather(*(guarded(s, c) for s, c in zip(steps, cases, strict=True)))
    v = judge(cases)
    by_action = Counter(f"{c.action} ({c.end})" for c in cases)
    statuses = Counter(got[0] for c in cases for _, got, _ in c.answers)
    not_ended = [c for c in cases if not c.operator_ends_run]
    completed = sum(1 for c in not_ended if c.end == "completed")
    return GuardRow(
        fault="operator actions on waiting stages with the real `temporal` CLI: workflow cancel, terminate, reset to "
        "before stage 2, a late callback after continue-as-new (each mode), activity pause / unpause (token)",
        tries=f"{len(cases)} runs ({args.rounds} round(s) x 13 cases); {v.answers} callbacks by the sender",
        expected="every answer as documented in operations.md (2xx, or 409 with its JSON error; never 5xx); every "
        "run the operator did not end completes; 0 `WorkflowTaskFailed`",
        observed=f"{v.answers - len(v.wrong_answers)}/{v.answers} answers as documented "
        f"({dict(sorted(statuses.items()))}); {completed}/{len(not_ended)} runs not ended by the operator completed; "
        f"{v.task_failures} workflow task failures",
        lost=len(v.lost),
        double_advanced=0,
        five_xx=v.five_xx,
        via_reconcile="-",
        command=COMMAND,
        breaches={"answers_off_the_table": len(v.wrong_answers), "workflow_task_failures": v.task_failures},
        detail={
            "by_action": dict(by_action),
            "wrong": v.wrong_answers,
            "lost": v.lost,
            "cases": [
                {
                    "action": c.action,
                    "mode": c.mode.value,
                    "end": c.end,
                    "task_failures": c.task_failures,
                    "answers": c.answers,
                }
                for c in cases
            ],
        },
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="just reliability-row operator_actions", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the 13 cases (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="the order the cases start in")
    args = parser.parse_args(argv)
    asyncio.run(run(args)).emit()


if __name__ == "__main__":
    main()
