"""Record the histories `tests/replay/test_replay.py` replays: every scenario run for real, one JSON file per run.

    uv run python -m tests.replay.record --tag v4 [--out tests/replay/histories]

Starts its own Temporal dev server and the whole stack (service mock, callback server, worker), runs each
scenario, waits for it to close, fetches the history of every run (a continue-as-new chain gives one file
per run) and writes it as `<out>/<tag>-<scenario>[-run<N>].json`. Everything it started is stopped again,
also when a scenario fails (or on Ctrl-C / SIGTERM). When the workflow changes (replay-safely, e.g. behind
`workflow.patched`), record the new behaviour under a new tag (v2, ...) and keep the old files: the new
code must replay both, which is what proves it can take over runs started by the old code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment

from app.demo.payloads import (
    ACTIVITY_AWAIT_STAGE_CALLBACK,
    ACTIVITY_REQUEST_STAGE,
    Action,
    RunResult,
    ServiceFaults,
    StagedRunInput,
)
from app.gate import search_attributes
from app.gate.types import SIGNAL_ADVANCE_STAGE, AdvancedBy, Mode, Outcome, WaitingFor
from app.starter import start_staged_run
from tests.outside import started_activity_id, temporal
from tests.replay.layout import HISTORY_DIR, history_file_name, workflow_id_for
from tests.replay.recorder_entry import run_recorder
from tests.stack import (
    Stack,
    find_temporal_cli,
    start_stack,
    wait_activity_started,
    wait_end,
    wait_status,
)

# Small, quick runs keep the files short: two stages, sub-second service timings.
TIME_TO_REQUEST = 0.1
TIME_TO_CALLBACK = 0.2
IGNORE_STAGE_TIMEOUT = 2.0  # the "timed-out stage" histories: the gate's timer fires
STAGE_TIMEOUT = 30.0  # never reached: the callback (or a hand-made signal) arrives first
RUN_TIMEOUT = 60.0  # per scenario, start to close
MAX_RUNS_PER_CHAIN = 10
# A file name prefix; "-run<N>" at the end would be read back as a continue-as-new run number.
_TAG = re.compile(r"(?![\w.-]*-run\d+$)[\w.-]+")

# Close events of a run; a continued-as-new run's close event names the next run.
_CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}

# How each action's run ends (None: completed), as in tests/e2e/test_modes_actions.py.
_ACTION_ERROR = {
    Action.COMPLETE: None,
    Action.FAIL: "StageFailed",
    Action.HEARTBEAT: None,
    Action.REPORT_CANCELLATION: "StageCancelled",
    Action.IGNORE: "StageTimedOut",
}


@dataclass(frozen=True)
class Recorder:
    """What a scenario's driver may use: the client, the dev server's address, the temporal CLI."""

    client: Client
    address: str
    temporal_cli: str
    stack: Stack


Handle = WorkflowHandle[object, RunResult]
Driver = Callable[[Recorder, Handle], Awaitable[None]]
# What else a completed run's result must show; returns what is wrong, or None.
Check = Callable[[RunResult], str | None]


@dataclass(frozen=True)
class Scenario:
    """One recorded run: its input, what else happens to it after start, and how it must end."""

    name: str
    inp: StagedRunInput
    expect_error: str | None = None  # the ApplicationError type the run fails with; None: it completes
    expect_runs: int = 1  # more than one: a continue-as-new chain, one file per run
    drive: Driver | None = None
    check: Check | None = None  # only for runs that complete


def _inp(mode: Mode, action: Action = Action.COMPLETE, **overrides: object) -> StagedRunInput:
    fields: dict[str, object] = {
        "mode": mode,
        "stages": 2,
        "actions": [action],
        "time_to_request": TIME_TO_REQUEST,
        "time_to_callback": TIME_TO_CALLBACK,
        "stage_timeout_seconds": IGNORE_STAGE_TIMEOUT if action is Action.IGNORE else STAGE_TIMEOUT,
    }
    fields.update(overrides)
    return StagedRunInput(**fields)  # type: ignore[arg-type]


async def _temporal_signal(rec: Recorder, handle: Handle, text: str) -> None:
    """Send advance_stage with the real `temporal workflow signal --input <text>`, as a person would."""
    cmd = [
        rec.temporal_cli, "workflow", "signal", "--address", rec.address, "--workflow-id", handle.id,
        "--name", SIGNAL_ADVANCE_STAGE, "--input", text,
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"temporal workflow signal failed ({proc.returncode}): {stderr.decode()}")


async def _at_gate(handle: Handle, stage: int) -> None:
    """Wait until `stage` waits at its gate for a callback (its request was accepted)."""
    await wait_status(handle, lambda s: s.current_stage == stage and s.waiting_for is WaitingFor.CALLBACK)


def _by_hand(input_for: Callable[[int], str]) -> Driver:
    """A driver that advances each of the 2 stages, once it waits at its gate, with `temporal workflow signal`."""

    async def drive(rec: Recorder, handle: Handle) -> None:
        for stage in range(1, 3):
            await _at_gate(handle, stage)
            await _temporal_signal(rec, handle, input_for(stage))

    return drive


async def _garbage_then_advance(rec: Recorder, handle: Handle) -> None:
    """A signal the gate cannot take (`"garbage"` reads as a stage name this run lacks: refused as unknown, counted
    in `rejected`), then each stage advanced by hand."""
    await _at_gate(handle, 1)
    await _temporal_signal(rec, handle, json.dumps("garbage"))
    status = await wait_status(handle, lambda s: s.rejected == 1)
    if status.current_stage != 1 or status.stages[0].outcome is not Outcome.PENDING:
        raise RuntimeError(f"the refused signal moved the run: {status}")
    await _by_hand(lambda stage: json.dumps({"stage": stage}))(rec, handle)


async def _future_stage_first(rec: Recorder, handle: Handle) -> None:
    """Stage 2's callback arrives before stage 1's, right after start: the workflow keeps it."""
    del rec
    for stage in (2, 1):
        await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": stage, "callback_id": f"cb-{stage}"})


async def _complete_by_cli(rec: Recorder, handle: Handle, activity_type: str, result: str) -> None:
    """`temporal activity complete --result <result>` on the run's started activity of this type, as a person would."""
    activity_id = await started_activity_id(handle, activity_type)
    done = await temporal(
        rec.temporal_cli, rec.address, "activity", "complete",
        "--workflow-id", handle.id, "--activity-id", activity_id, "--result", result,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"temporal activity complete failed ({done.returncode}): {done.stderr}")


async def _at_stage(handle: Handle, stage: int) -> None:
    await wait_status(handle, lambda s: s.current_stage == stage)


def _token_by_hand(*results: str) -> Driver:
    """Complete each token stage's open activity by hand, in turn, with these `--result` values (v8)."""

    async def drive(rec: Recorder, handle: Handle) -> None:
        for stage, result in enumerate(results, start=1):
            await _at_stage(handle, stage)
            await _complete_by_cli(rec, handle, ACTIVITY_AWAIT_STAGE_CALLBACK, result)

    return drive


async def _token_not_json(rec: Recorder, handle: Handle) -> None:
    """Another SDK's payload (the CLI sends only JSON): the client's async completion with an unknown encoding."""
    activity_id = await started_activity_id(handle, ACTIVITY_AWAIT_STAGE_CALLBACK)
    bogus = RawValue(Payload(metadata={"encoding": b"binary/bogus"}, data=b"\xff\x00garbage"))
    await rec.client.get_async_activity_handle(workflow_id=handle.id, run_id=None, activity_id=activity_id).complete(
        bogus
    )


async def _request_by_hand_then_signal(rec: Recorder, handle: Handle) -> None:
    """Signal mode: the request activity completed by hand with a bare string, then the stage advanced by hand."""
    for stage in range(1, 3):
        await _at_stage(handle, stage)
        await _complete_by_cli(rec, handle, ACTIVITY_REQUEST_STAGE, json.dumps(f"job-by-hand-{stage}"))
        await _at_gate(handle, stage)
        await _temporal_signal(rec, handle, json.dumps({"stage": stage}))


def _advanced_by(*expected: AdvancedBy, rejected: int = 0) -> Check:
    """The stages completed in this order, advanced by these, with `rejected` refused messages."""

    def check(result: RunResult) -> str | None:
        got = [(s.outcome, s.advanced_by) for s in result.stages]
        want = [(Outcome.COMPLETED, by) for by in expected]
        if got != want:
            return f"stages ended {got}, expected {want}"
        if result.rejected != rejected:
            return f"{result.rejected} refused messages, expected {rejected}"
        return None

    return check


# What a stage's own callback advances it with, per mode.
_VIA = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.TOKEN: AdvancedBy.ACTIVITY, Mode.UPDATE: AdvancedBy.UPDATE}


def scenarios() -> list[Scenario]:
    """Every recorded scenario, in recording order."""
    out = [
        Scenario(
            f"{mode.value}-{action.value.replace('_', '-')}",
            _inp(mode, action),
            _ACTION_ERROR[action],
            check=_advanced_by(_VIA[mode], _VIA[mode]) if _ACTION_ERROR[action] is None else None,
        )
        for mode in Mode
        for action in Action
    ]
    out += [
        Scenario(
            f"{mode.value}-early-callback",
            _inp(mode, time_to_request=1.0, time_to_callback=0.2),
            check=_advanced_by(_VIA[mode], _VIA[mode]),
        )
        for mode in Mode
    ]
    out += [
        Scenario(
            f"{mode.value}-duplicate-callback",
            _inp(mode, faults=ServiceFaults(duplicate_deliveries=2)),
            check=_advanced_by(_VIA[mode], _VIA[mode]),
        )
        for mode in Mode
    ]
    out += [
        Scenario(
            "signal-advanced-by-hand",
            _inp(Mode.SIGNAL, Action.IGNORE, stage_timeout_seconds=STAGE_TIMEOUT),
            drive=_by_hand(lambda stage: json.dumps({"stage": stage})),
            check=_advanced_by(AdvancedBy.MANUAL, AdvancedBy.MANUAL),
        ),
        Scenario(
            "signal-future-stage-kept",
            _inp(Mode.SIGNAL, Action.IGNORE, stage_timeout_seconds=STAGE_TIMEOUT),
            drive=_future_stage_first,
            check=_advanced_by(AdvancedBy.SIGNAL, AdvancedBy.SIGNAL),
        ),
        Scenario(
            "signal-continue-as-new",
            _inp(Mode.SIGNAL, stages=4, continue_as_new_after_stages=2),
            expect_runs=2,
        ),
    ]
    # Since v2 (patch "reconcile-before-timeout"): a callback the service lost is recovered at the deadline.
    out += [
        Scenario(
            f"{mode.value}-lost-callback-reconciled",
            _inp(mode, stage_timeout_seconds=2.0, faults=ServiceFaults(lose_callbacks=True)),
            check=_advanced_by(AdvancedBy.RECONCILE, AdvancedBy.RECONCILE),
        )
        for mode in Mode
    ]
    # Since v3 (the gate layer, update mode, per-stage modes, loose advance_stage payloads).
    out += [
        Scenario(
            "mixed-modes",
            _inp(Mode.SIGNAL, stages=3, stage_modes=[Mode.SIGNAL, Mode.TOKEN, Mode.UPDATE]),
            check=_advanced_by(*(_VIA[mode] for mode in (Mode.SIGNAL, Mode.TOKEN, Mode.UPDATE))),
        ),
        Scenario(
            "signal-bare-int-by-hand",
            _inp(Mode.SIGNAL, Action.IGNORE, stage_timeout_seconds=STAGE_TIMEOUT),
            drive=_by_hand(str),  # `--input 1`: the community thread's advance_stage(stage: int)
            check=_advanced_by(AdvancedBy.MANUAL, AdvancedBy.MANUAL),
        ),
        Scenario(
            "signal-garbage-then-advance",
            _inp(Mode.SIGNAL, Action.IGNORE, stage_timeout_seconds=STAGE_TIMEOUT),
            drive=_garbage_then_advance,
            check=_advanced_by(AdvancedBy.MANUAL, AdvancedBy.MANUAL, rejected=1),
        ),
    ]
    # Since v4 (patch "stagegate-recover-after-request-timeout"): the service answers the request after the
    # stage's budget, but called back in time (the recorded callback is used) or lost its callback (reconcile).
    for mode in (Mode.SIGNAL, Mode.UPDATE):
        out += [
            Scenario(
                f"{mode.value}-request-too-late",
                _slow_request(mode, ServiceFaults()),
                check=_advanced_by(_VIA[mode], _VIA[mode]),
            ),
            Scenario(
                f"{mode.value}-request-too-late-lost-callback",
                _slow_request(mode, ServiceFaults(lose_callbacks=True)),
                check=_advanced_by(AdvancedBy.RECONCILE, AdvancedBy.RECONCILE),
            ),
        ]
    # Since v5 (patches "stagegate-handoff-check", "stagegate-reconcile-every-timeout"): the worker SIGKILLed
    # before the request (every mode) or after the hand-off (token), the hand-off check finding a finished job
    # whose callback was lost, and request retries that ran out of the stage's time.
    paused = ServiceFaults(pause_before_request_seconds=3.0)
    out += [
        Scenario(
            f"{mode.value}-worker-killed-before-request",
            _inp(mode, stages=1, faults=paused),
            drive=_kill_worker_when_started,
            check=_repeated(_VIA[mode], attempts=2, requests_repeated=1 if mode is Mode.TOKEN else 0),
        )
        for mode in Mode
    ]
    out += [
        Scenario(
            "token-worker-killed-after-hand-off",
            _inp(Mode.TOKEN, stages=1, time_to_callback=12.0),
            drive=_kill_worker_after_hand_off,
            check=_repeated(AdvancedBy.ACTIVITY, attempts=1, requests_repeated=0),
        ),
        Scenario(
            "token-hand-off-check-finds-lost-callback",
            _inp(Mode.TOKEN, stages=1, faults=ServiceFaults(lose_callbacks=True)),
            check=_advanced_by(AdvancedBy.RECONCILE),
        ),
    ]
    out += [
        Scenario(
            f"{mode.value}-request-retries-out-of-time",
            _inp(
                mode,
                stages=1,
                time_to_request=0.05,
                time_to_callback=0.4,
                stage_timeout_seconds=0.9,
                faults=ServiceFaults(lose_request_answers=True),
            ),
            check=_advanced_by(AdvancedBy.RECONCILE if mode is Mode.TOKEN else _VIA[mode]),
        )
        for mode in Mode
    ]
    # Since v8 (no new commands: activity results are read in workflow code, app/gate/completions.py): token
    # stages completed by hand with `temporal activity complete` (JSON that means done, the signal's failed form,
    # what the gate cannot use, a payload that is not JSON), and a signal-mode request activity completed by hand.
    by_hand = _inp(Mode.TOKEN, Action.IGNORE, stage_timeout_seconds=STAGE_TIMEOUT)
    out += [
        Scenario(
            "token-completed-by-hand",
            by_hand,
            drive=_token_by_hand('{"status":"completed"}', '"done"'),
            check=_advanced_by(AdvancedBy.MANUAL, AdvancedBy.MANUAL),
        ),
        Scenario(
            "token-completed-by-hand-null-and-object",
            by_hand,
            drive=_token_by_hand("null", '{"approved": true}'),
            check=_advanced_by(AdvancedBy.MANUAL, AdvancedBy.MANUAL),
        ),
        Scenario(
            "token-failed-by-hand-completion",
            by_hand,
            "StageFailed",
            drive=_token_by_hand('{"status":"failed","error":"refused by hand"}'),
        ),
        Scenario("token-completed-unusable", by_hand, "StageFailed", drive=_token_by_hand('{"status":"progress"}')),
        Scenario("token-completed-not-json", by_hand, "StageFailed", drive=_token_not_json),
        Scenario(
            "signal-request-completed-by-hand",
            _inp(Mode.SIGNAL, Action.IGNORE, time_to_request=20.0, stage_timeout_seconds=STAGE_TIMEOUT),
            drive=_request_by_hand_then_signal,
            check=_advanced_by(AdvancedBy.MANUAL, AdvancedBy.MANUAL),
        ),
    ]
    return out


def _repeated(by: AdvancedBy, *, attempts: int, requests_repeated: int) -> Check:
    """One stage, completed by `by`, after this many attempts, of which this many were requests made again."""

    def check(result: RunResult) -> str | None:
        got = [(s.outcome, s.advanced_by, s.attempts, s.requests_repeated) for s in result.stages]
        want = [(Outcome.COMPLETED, by, attempts, requests_repeated)]
        return None if got == want else f"stages ended {got}, expected {want}"

    return check


async def _restart_worker(rec: Recorder) -> None:
    """SIGKILL the stack's worker by pid (a crash, not a drain) and start a new one with the same environment."""
    (worker,) = rec.stack.workers
    rec.stack.kill(worker)
    await asyncio.to_thread(rec.stack.start, worker)


async def _kill_worker_when_started(rec: Recorder, handle: Handle) -> None:
    """Kill the worker while stage 1's activity waits before its request (the service never got it)."""
    await wait_activity_started(handle)
    await asyncio.sleep(0.5)
    await _restart_worker(rec)


async def _kill_worker_after_hand_off(rec: Recorder, handle: Handle) -> None:
    """Kill the worker once stage 1's token activity is handed off (the service has the request)."""
    await wait_activity_started(handle)
    await asyncio.sleep(1.5)  # the service answers after TIME_TO_REQUEST; the activity then completes async
    await _restart_worker(rec)


def _slow_request(mode: Mode, faults: ServiceFaults) -> StagedRunInput:
    """The service answers after 4 s, calls back after 0.2 s; a stage has 2 s."""
    return _inp(mode, time_to_request=4.0, time_to_callback=0.2, stage_timeout_seconds=2.0, faults=faults)


async def _fetch_chain(client: Client, workflow_id: str, first_run_id: str) -> list[WorkflowHistory]:
    """The history of every run of a (possibly continued-as-new) chain, first run first; all must be closed."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = first_run_id
    while run_id is not None:
        if len(histories) >= MAX_RUNS_PER_CHAIN:
            raise RuntimeError(f"{workflow_id}: more than {MAX_RUNS_PER_CHAIN} runs in the chain")
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1] if history.events else None
        if last is None or last.event_type not in _CLOSE_EVENTS:
            raise RuntimeError(f"{workflow_id} run {run_id} is not closed (last event: {last and last.event_type})")
        histories.append(history)
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return histories


async def _record(rec: Recorder, scenario: Scenario, tag: str, out: Path) -> list[Path]:
    workflow_id = workflow_id_for(tag, scenario.name)
    handle = await start_staged_run(rec.client, rec.stack.settings.task_queue, scenario.inp, workflow_id=workflow_id)
    first_run_id = handle.result_run_id
    if first_run_id is None:
        raise RuntimeError(f"{workflow_id}: start returned no run ID")
    async with asyncio.timeout(RUN_TIMEOUT):
        if scenario.drive is not None:
            await scenario.drive(rec, handle)
        end = await wait_end(handle, timeout=RUN_TIMEOUT)
    if end.error_type != scenario.expect_error:
        raise RuntimeError(f"{scenario.name}: expected {scenario.expect_error or 'completion'}, got {end}")
    problem = scenario.check(end.result) if scenario.check is not None and end.result is not None else None
    if problem:
        raise RuntimeError(f"{scenario.name}: {problem}")
    histories = await _fetch_chain(rec.client, workflow_id, first_run_id)
    if len(histories) != scenario.expect_runs:
        raise RuntimeError(f"{scenario.name}: expected {scenario.expect_runs} run(s), got {len(histories)}")
    return _write(histories, out, tag, scenario)


def _write(histories: list[WorkflowHistory], out: Path, tag: str, scenario: Scenario) -> list[Path]:
    """One file per run: the SDK's JSON (indented, the format `WorkflowHistory.from_json` and the CLI read)."""
    written: list[Path] = []
    for index, history in enumerate(histories, start=1):
        run = index if scenario.expect_runs > 1 else None
        path = out / history_file_name(tag, scenario.name, run)
        path.write_text(history.to_json() + "\n")
        written.append(path)
    return written


def _log_tails(stack: Stack | None) -> None:
    if stack is None:
        return
    for proc in stack.processes.values():
        print(f"--- {proc.name} (pid {proc.pid}) log tail ---\n{proc.log_tail()}", file=sys.stderr)


async def record_all(tag: str, out: Path, only: frozenset[str] | None = None) -> list[Path]:
    """Start a dev server and the stack, record every scenario (or the `only` ones), stop everything; the files."""
    # SIGTERM cancels like Ctrl-C does, so the cleanup below runs (the stack lives in its own sessions).
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    temporal_cli = find_temporal_cli()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    stack: Stack | None = None
    written: list[Path] = []
    try:
        address = env.client.service_client.config.target_host
        with tempfile.TemporaryDirectory(prefix="stagegate-record-") as log_dir:
            try:
                stack = start_stack(address, Path(log_dir), task_queue=f"record-{uuid.uuid4().hex[:8]}")
                rec = Recorder(client=env.client, address=address, temporal_cli=temporal_cli, stack=stack)
                for scenario in scenarios():
                    if only is not None and scenario.name not in only:
                        continue
                    started = time.monotonic()
                    paths = await _record(rec, scenario, tag, out)
                    for path in paths:
                        print(f"wrote {path} ({scenario.name}, {time.monotonic() - started:.1f}s)", flush=True)
                    written += paths
            except Exception:
                _log_tails(stack)
                raise
            finally:
                if stack is not None:
                    stack.stop()
    finally:
        await env.shutdown()
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m tests.replay.record`."""
    parser = argparse.ArgumentParser(prog="python -m tests.replay.record", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tag", required=True, help="file name prefix: the workflow version, e.g. v3")
    parser.add_argument("--force", action="store_true", help="re-record a tag that already has files")
    parser.add_argument("--out", type=Path, default=HISTORY_DIR, help=f"output folder (default: {HISTORY_DIR})")
    parser.add_argument(
        "--only",
        help="comma-separated scenario names: record just these (new scenarios of a version whose commands did not "
        "change, e.g. v8's completions by hand)",
    )
    args = parser.parse_args(argv)
    only = frozenset(n.strip() for n in args.only.split(",") if n.strip()) if args.only else None
    unknown = sorted((only or frozenset()) - {s.name for s in scenarios()})
    if unknown:
        parser.error(f"no such scenario(s): {', '.join(unknown)}")
    if not _TAG.fullmatch(args.tag):
        parser.error("--tag takes letters, digits, '.', '_' and '-', and must not end in -run<N>")
    existing = sorted(args.out.glob(f"{args.tag}-*.json"))
    if existing and not args.force:
        # Overwriting a tag would replace histories of the old code with the new code's: the replay
        # test would then prove nothing about runs that are still open under the old code.
        parser.error(
            f"{len(existing)} histories tagged {args.tag!r} already exist in {args.out}; record the new "
            "workflow version under a new --tag (or pass --force to re-record this one on purpose)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    written = asyncio.run(record_all(args.tag, args.out, only))
    print(f"{len(written)} histories written to {args.out}")
    return 0


if __name__ == "__main__":
    run_recorder(main)
