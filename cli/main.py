"""The `cli` command line: start runs in either mode, watch them, signal them, list them, benchmark them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from app.config import Settings, SettingsError, load_settings
from app.gate_rules import InvalidCallbackError, parse_stage_key
from app.gate_types import SIGNAL_ADVANCE_STAGE, CallbackStatus, GateStatus, Mode, StageCallback
from app.payloads import WORKFLOW_NAME, RunResult, RunStatus
from app.pipeline_file import InputError, PipelineError, load_pipeline
from app.pipeline_types import (
    PIPELINE_WORKFLOW_NAME,
    QUERY_PIPELINE_STATUS,
    Pipeline,
    PipelineResult,
    PipelineRunInput,
    PipelineStatus,
)
from app.temporal_client import connect_client
from cli.outcomes import query_status, ui_link, wait_for_pipeline_report, wait_for_report
from cli.pipeline_cmd import parse_input, pipeline_app
from cli.preflight import check_services
from cli.render import RunReport, print_report, side_by_side, stage_table, status_table
from cli.run_options import OptionError, RunOptions, parse_actions, parse_mode, parse_stage_modes

T = TypeVar("T")

app = typer.Typer(
    help="stagegate: Temporal workflows that wait on HTTP callbacks, in signal, token or update mode.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=False)
if not out.is_terminal:
    # Piped output (CI logs, `just up`): wide enough that tables and links do not fold.
    out = Console(width=160)
err = Console(stderr=True)
app.add_typer(pipeline_app, name="pipeline")

EXIT_RUN_NOT_COMPLETED = 3
# `start` options that only the demo has: a pipeline file defines its own stages, requests and timeouts.
DEMO_ONLY_OPTIONS = {
    "stages": "--stages",
    "stage_modes": "--stage-modes",
    "time_to_request": "--time-to-request",
    "time_to_callback": "--time-to-callback",
    "action": "--action",
    "stage_timeout": "--stage-timeout",
    "duplicate_deliveries": "--duplicate-deliveries",
    "extra_delay": "--extra-delay",
    "lose_callbacks": "--lose-callbacks",
    "continue_as_new_after": "--continue-as-new-after",
}


class CliError(Exception):
    """An error we report as one line on stderr with a non-zero exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise CliError(f"configuration: {exc}") from exc


async def _connect(settings: Settings) -> Client:
    try:
        return await asyncio.wait_for(connect_client(settings), timeout=15)
    except (TimeoutError, RuntimeError, RPCError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(
            f"cannot reach Temporal at {settings.temporal.address} (namespace {settings.temporal.namespace}): "
            f"{reason[:200]}. Is it running? (`just up`)"
        ) from exc


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CliError(f"not found: {exc.message}") from exc
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise CliError(f"Temporal is not answering: {exc.message}") from exc
        raise CliError(f"Temporal said {exc.status.name}: {exc.message}") from exc


# --- start --------------------------------------------------------------------------------------------


@app.command()
def start(
    ctx: typer.Context,
    mode: Annotated[str, typer.Option("--mode", "-m", help="signal | token | update")] = "signal",
    pipeline_file: Annotated[
        Path | None,
        typer.Option("--pipeline", "-p", help="Run this pipeline file (YAML) instead of the demo."),
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option("--input", "-i", help="Pipeline run input: JSON, or @file.json (default: the file's example)."),
    ] = None,
    stages: Annotated[int, typer.Option("--stages", "-n", min=1, max=10_000, help="Number of stages.")] = 3,
    stage_modes: Annotated[
        str | None,
        typer.Option("--stage-modes", help="Per-stage mode override: a comma list, one mode per stage."),
    ] = None,
    time_to_request: Annotated[
        float, typer.Option("--time-to-request", "-ttr", min=0, help="Seconds the service takes to answer 200.")
    ] = 0.5,
    time_to_callback: Annotated[
        float, typer.Option("--time-to-callback", "-ttc", min=0, help="Seconds until the service calls back.")
    ] = 1.0,
    action: Annotated[
        str,
        typer.Option(
            "--action",
            "--activity-action",
            "-a",
            help="complete | fail | heartbeat | report_cancellation | ignore; one for all stages or a comma list, "
            "one per stage.",
        ),
    ] = "complete",
    stage_timeout: Annotated[
        float, typer.Option("--stage-timeout", min=0.1, help="Seconds a stage may take before it times out.")
    ] = 300.0,
    workflow_id: Annotated[str | None, typer.Option("--workflow-id", help="Default: a fresh unique ID.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Watch the run until it ends.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (for machines).")] = False,
    duplicate_deliveries: Annotated[
        int, typer.Option("--duplicate-deliveries", min=0, help="Fault: the service sends each callback N extra times.")
    ] = 0,
    extra_delay: Annotated[
        float, typer.Option("--extra-delay", min=0, help="Fault: extra seconds before callbacks.")
    ] = 0.0,
    lose_callbacks: Annotated[
        bool, typer.Option("--lose-callbacks", help="Fault: the service does the work but its callbacks get lost.")
    ] = False,
    continue_as_new_after: Annotated[
        int, typer.Option("--continue-as-new-after", min=0, help="Continue-as-new every N stages (0: when suggested).")
    ] = 0,
    preflight: Annotated[
        bool, typer.Option("--preflight/--no-preflight", help="Check the service and callback server answer first.")
    ] = True,
) -> None:
    """Start a demo run (or a --pipeline FILE run): prints its workflow ID and Web UI link; --wait adds progress."""
    if pipeline_file is not None:
        given = [flag for name, flag in DEMO_ONLY_OPTIONS.items() if _given(ctx, name)]
        if given:
            raise OptionError(f"{given[0]} does not apply to --pipeline runs: the pipeline file defines its stages")
        pipeline = load_pipeline(pipeline_file)  # PipelineError: one line, exit 2, nothing started
        run_input = PipelineRunInput(pipeline=pipeline, input=parse_input(input_, pipeline), mode=parse_mode(mode))
        settings = _settings()
        report = _run(
            _start_pipeline(settings, run_input, workflow_id, wait=wait, as_json=as_json, preflight=preflight)
        )
        if report is not None and report.status != "completed":
            raise typer.Exit(EXIT_RUN_NOT_COMPLETED)
        return
    if input_ is not None:
        raise OptionError("--input is for --pipeline runs; the demo takes --stages, --action, ...")
    settings = _settings()
    options = RunOptions(
        mode=parse_mode(mode),
        stages=stages,
        actions=parse_actions(action, stages),
        time_to_request=time_to_request,
        time_to_callback=time_to_callback,
        stage_timeout=stage_timeout,
        duplicate_deliveries=duplicate_deliveries,
        extra_delay=extra_delay,
        lose_callbacks=lose_callbacks,
        continue_as_new_after=continue_as_new_after,
        stage_modes=parse_stage_modes(stage_modes, stages),
    )
    report = _run(_start(settings, options, workflow_id, wait=wait, as_json=as_json, preflight=preflight))
    if report is not None and report.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


async def _start(
    settings: Settings, options: RunOptions, workflow_id: str | None, *, wait: bool, as_json: bool, preflight: bool
) -> RunReport | None:
    from app.starter import start_staged_run

    if preflight:
        problem = await check_services(settings)
        if problem:
            raise CliError(f"{problem} (start the stack with `just up`, or pass --no-preflight)")
    client = await _connect(settings)
    try:
        handle = await start_staged_run(client, settings.task_queue, options.to_input(), workflow_id=workflow_id)
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a workflow with ID {workflow_id!r} is already running") from exc
        raise
    link = ui_link(settings.temporal.ui_url, client.namespace, handle.id)
    if not wait:
        if as_json:
            print(json.dumps({"workflow_id": handle.id, "run_id": handle.result_run_id, "ui_url": link}))
        else:
            out.print(f"started {handle.id} ({options.mode.value} mode)\nWeb UI: {link}")
        return None
    if as_json:
        report = await wait_for_report(client, handle, ui_url=settings.temporal.ui_url)
        print(report.to_json())
        return report
    out.print(f"started {handle.id} ({options.mode.value} mode, {options.stages} stages)\nWeb UI: {link}")
    report = await _watch(client, handle, settings)
    print_report(out, report)
    return report


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


async def _start_pipeline(
    settings: Settings,
    run_input: PipelineRunInput,
    workflow_id: str | None,
    *,
    wait: bool,
    as_json: bool,
    preflight: bool,
) -> RunReport | None:
    from app.starter import start_pipeline_run

    pipeline = run_input.pipeline
    if preflight:
        problem = await check_services(settings, service=False)
        if problem:
            raise CliError(f"{problem} (start the stack with `just up`, or pass --no-preflight)")
    client = await _connect(settings)
    try:
        handle = await start_pipeline_run(client, settings.task_queue, run_input, workflow_id=workflow_id)
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a workflow with ID {workflow_id!r} is already running") from exc
        raise
    link = ui_link(settings.temporal.ui_url, client.namespace, handle.id)
    mode = run_input.mode.value
    if not wait:
        if as_json:
            print(json.dumps({"workflow_id": handle.id, "run_id": handle.result_run_id, "ui_url": link}))
        else:
            out.print(f"started {handle.id} (pipeline {pipeline.name}, {mode} mode)\nWeb UI: {link}")
        return None
    if as_json:
        report = await wait_for_pipeline_report(client, handle, ui_url=settings.temporal.ui_url, mode=mode)
        print(report.to_json())
        return report
    out.print(
        f"started {handle.id} (pipeline {pipeline.name}, {mode} mode, {len(pipeline.stages)} stages)\nWeb UI: {link}"
    )
    report = await _watch_pipeline(client, handle, settings, pipeline, mode)
    print_report(out, report)
    return report


async def _watch_pipeline(
    client: Client, handle: WorkflowHandle[object, PipelineResult], settings: Settings, pipeline: Pipeline, mode: str
) -> RunReport:
    """Live progress from the gate's own `gate_status` query, which every gate user answers."""
    names = [s.name for s in pipeline.stages]

    def where(status: GateStatus) -> str:
        current = status.current_stage
        number = names.index(current) + 1 if isinstance(current, str) and current in names else 0
        return f"stage {current or '-'} ({number}/{len(names)}): waiting for {status.waiting_for.value}"

    if out.is_terminal:
        with Live(console=out, refresh_per_second=4, transient=True) as live:
            return await wait_for_pipeline_report(
                client,
                handle,
                ui_url=settings.temporal.ui_url,
                mode=mode,
                on_status=lambda s: live.update(
                    stage_table(s.stages, actions=None, title=f"{handle.id}  pipeline {pipeline.name}  {where(s)}")
                ),
            )
    last: list[str] = []

    def show(status: GateStatus) -> None:
        line = where(status)
        if not last or last[-1] != line:
            last.append(line)
            out.print(line, markup=False, highlight=False)

    return await wait_for_pipeline_report(client, handle, ui_url=settings.temporal.ui_url, mode=mode, on_status=show)


async def _watch(client: Client, handle: WorkflowHandle[object, RunResult], settings: Settings) -> RunReport:
    """Live per-stage progress: a Rich live table on a terminal, a line per change otherwise."""
    if out.is_terminal:
        with Live(console=out, refresh_per_second=4, transient=True) as live:
            return await wait_for_report(
                client,
                handle,
                ui_url=settings.temporal.ui_url,
                on_status=lambda s: live.update(status_table(handle.id, s)),
            )
    last: list[str] = []

    def show(status: RunStatus) -> None:
        line = f"stage {status.current_stage or '-'}/{status.stages_total}: waiting for {status.waiting_for.value}"
        if not last or last[-1] != line:
            last.append(line)
            out.print(line)

    return await wait_for_report(client, handle, ui_url=settings.temporal.ui_url, on_status=show)


# --- status / result / signal / list -------------------------------------------------------------


@app.command()
def status(
    workflow_id: Annotated[str, typer.Argument(help="Workflow ID.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a run's mode, current stage, per-stage records and what it waits for."""
    _run(_status(_settings(), workflow_id, as_json=as_json))


async def _status(settings: Settings, workflow_id: str, *, as_json: bool) -> None:
    client = await _connect(settings)
    handle = client.get_workflow_handle(workflow_id, result_type=RunResult)
    description = await handle.describe()
    if description.workflow_type == PIPELINE_WORKFLOW_NAME:
        await _pipeline_status(client, workflow_id, description.status, as_json=as_json)
        return
    state = await query_status(handle)
    # Token mode: progress lives in the pending activity's heartbeat details.
    pending = [
        PendingActivity(
            activity=p.activity_type.name,
            attempt=p.attempt,
            last_heartbeat=(await client.data_converter.decode(p.heartbeat_details.payloads))[-1:]
            if p.HasField("heartbeat_details")
            else [],
        )
        for p in description.raw_description.pending_activities
    ]
    execution = description.status.name.lower() if description.status else "unknown"
    if as_json:
        body = {
            "workflow_id": workflow_id,
            "execution_status": execution,
            "status": asdict(state) if state else None,
            "pending_activities": [asdict(p) for p in pending],
        }
        print(json.dumps(body, default=str))
        return
    if state is None:
        out.print(f"{workflow_id}: {execution} (no worker answered the status query)")
        return
    out.print(status_table(workflow_id, state))
    out.print(
        f"execution: {execution}   duplicates ignored: {state.duplicates_ignored}   "
        f"rejected: {state.rejected}   runs: {state.runs}"
    )
    for rejection in state.last_rejections:
        out.print(f"rejected {rejection.at}: {rejection.reason} (received {rejection.received})", markup=False)
    for p in pending:
        out.print(f"pending activity {p.activity} attempt {p.attempt}, last heartbeat: {p.last_heartbeat or '-'}")


async def _pipeline_status(
    client: Client, workflow_id: str, execution_status: WorkflowExecutionStatus | None, *, as_json: bool
) -> None:
    execution = execution_status.name.lower() if execution_status else "unknown"
    try:
        state: PipelineStatus | None = await client.get_workflow_handle(workflow_id).query(
            QUERY_PIPELINE_STATUS, result_type=PipelineStatus, rpc_timeout=timedelta(seconds=5)
        )
    except (RPCError, TimeoutError):
        state = None
    if as_json:
        body = {"workflow_id": workflow_id, "execution_status": execution, "status": asdict(state) if state else None}
        print(json.dumps(body, default=str))
        return
    if state is None:
        out.print(f"{workflow_id}: {execution} (no worker answered the status query)")
        return
    current = state.current_stage
    number = state.stage_names.index(current) + 1 if isinstance(current, str) and current in state.stage_names else 0
    title = (
        f"{workflow_id}  pipeline {state.pipeline}  mode={state.mode.value}  stage {current or '-'} "
        f"({number}/{len(state.stage_names)})  waiting for: {state.waiting_for.value}"
    )
    out.print(stage_table(state.stages, actions=None, title=title))
    out.print(
        f"execution: {execution}   duplicates ignored: {state.duplicates_ignored}   "
        f"rejected: {state.rejected}   runs: {state.runs}"
    )
    for rejection in state.last_rejections:
        out.print(f"rejected {rejection.at}: {rejection.reason} (received {rejection.received})", markup=False)


@dataclass(frozen=True)
class PendingActivity:
    """A pending activity as `status` shows it (token mode: the stage's open activity)."""

    activity: str
    attempt: int
    last_heartbeat: list[Any]


@app.command()
def result(
    workflow_id: Annotated[str, typer.Argument(help="Workflow ID.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for an open run.")] = 600.0,
) -> None:
    """Wait for a run's result (or how it failed) and print it."""
    report = _run(_result(_settings(), workflow_id, as_json=as_json, timeout=timeout))
    if report.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


async def _result(settings: Settings, workflow_id: str, *, as_json: bool, timeout: float) -> RunReport:
    client = await _connect(settings)
    handle = client.get_workflow_handle(workflow_id, result_type=RunResult)
    description = await handle.describe()  # a clear "not found" before waiting
    try:
        if description.workflow_type == PIPELINE_WORKFLOW_NAME:
            report = await wait_for_pipeline_report(
                client,
                client.get_workflow_handle(workflow_id, result_type=PipelineResult),
                ui_url=settings.temporal.ui_url,
                mode="unknown",
                timeout=timeout,
            )
        else:
            report = await wait_for_report(client, handle, ui_url=settings.temporal.ui_url, timeout=timeout)
    except TimeoutError as exc:
        raise CliError(str(exc) or f"run {workflow_id} still open after {timeout:g}s") from exc
    if as_json:
        print(report.to_json())
    else:
        print_report(out, report)
    return report


@app.command()
def signal(
    workflow_id: Annotated[str, typer.Argument(help="Workflow ID.")],
    stage: Annotated[str, typer.Option("--stage", "-s", help="The stage this callback is for: a number or a name.")],
    status_: Annotated[str, typer.Option("--status", help="completed | failed | cancelled | progress")] = "completed",
    result_json: Annotated[str | None, typer.Option("--result", help="Result as a JSON object.")] = None,
    error: Annotated[str | None, typer.Option("--error", help="Error message (for failed/cancelled).")] = None,
    callback_id: Annotated[str | None, typer.Option("--callback-id", help="Dedupe key; repeats are ignored.")] = None,
) -> None:
    """Send advance_stage by hand (what the callback server does in signal mode)."""
    try:
        cb_status = CallbackStatus(status_)
    except ValueError:
        raise CliError(
            f"--status must be one of {', '.join(s.value for s in CallbackStatus)}, got {status_!r}", 2
        ) from None
    parsed: dict[str, Any] | None = None
    if result_json is not None:
        try:
            value = json.loads(result_json)
        except json.JSONDecodeError as exc:
            raise CliError(f"--result is not valid JSON: {exc}", 2) from exc
        if not isinstance(value, dict):
            raise CliError("--result must be a JSON object", 2)
        parsed = value
    try:
        stage_key = parse_stage_key(stage)
    except InvalidCallbackError as exc:
        raise CliError(f"--stage: {exc}", 2) from None
    payload = StageCallback(stage=stage_key, status=cb_status, result=parsed, error=error, callback_id=callback_id)
    _run(_signal(_settings(), workflow_id, payload))


async def _signal(settings: Settings, workflow_id: str, payload: StageCallback) -> None:
    client = await _connect(settings)
    await client.get_workflow_handle(workflow_id).signal(SIGNAL_ADVANCE_STAGE, payload)
    out.print(f"sent {SIGNAL_ADVANCE_STAGE} {json.dumps(asdict(payload), default=str)} to {workflow_id}")


@app.command("list")
def list_runs(
    stage: Annotated[int | None, typer.Option("--stage", help="Only runs waiting at this stage.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", "-m", help="signal | token | update")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed runs too (default: running only).")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stagegate runs, demo and pipeline (by the StagegateStage / StagegateMode search attributes)."""
    clauses = [f"(WorkflowType = '{WORKFLOW_NAME}' OR WorkflowType = '{PIPELINE_WORKFLOW_NAME}')"]
    if not all_:
        clauses.append("ExecutionStatus = 'Running'")
    if stage is not None:
        clauses.append(f"StagegateStage = {stage}")
    if mode is not None:
        clauses.append(f"StagegateMode = '{parse_mode(mode).value}'")
    _run(_list(_settings(), " AND ".join(clauses), limit=limit, as_json=as_json))


async def _list(settings: Settings, query: str, *, limit: int, as_json: bool) -> None:
    from app import search_attributes

    client = await _connect(settings)
    rows: list[dict[str, Any]] = []
    async for wf in client.list_workflows(query, limit=limit):
        attrs = wf.typed_search_attributes
        rows.append(
            {
                "workflow_id": wf.id,
                "workflow_type": wf.workflow_type,
                "status": wf.status.name.lower() if isinstance(wf.status, WorkflowExecutionStatus) else "unknown",
                "mode": attrs.get(search_attributes.MODE),
                "stage": attrs.get(search_attributes.STAGE),
                "started": wf.start_time.isoformat() if wf.start_time else None,
            }
        )
    if as_json:
        print(json.dumps(rows))
        return
    out.print(f"query: {query}")
    for row in rows:
        out.print(f"{row['workflow_id']:<45} {row['status']:<11} {row['mode'] or '-':<7} stage {row['stage']}")
    out.print(f"{len(rows)} run(s)")


# --- demo / bench ---------------------------------------------------------------------------------


@app.command()
def demo(
    stages: Annotated[int, typer.Option("--stages", "-n", min=1)] = 3,
    time_to_request: Annotated[float, typer.Option("--time-to-request", "-ttr", min=0)] = 0.3,
    time_to_callback: Annotated[float, typer.Option("--time-to-callback", "-ttc", min=0)] = 0.8,
    action: Annotated[str, typer.Option("--action", "-a")] = "complete",
) -> None:
    """Run the same work once in each mode, at the same time, and print the results side by side."""
    settings = _settings()
    reports = _run(
        _demo(
            settings,
            RunOptions(
                mode=Mode.SIGNAL,
                stages=stages,
                actions=parse_actions(action, stages),
                time_to_request=time_to_request,
                time_to_callback=time_to_callback,
                stage_timeout=60.0,
            ),
        )
    )
    if any(r.status != "completed" for r in reports):
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


async def _demo(settings: Settings, options: RunOptions) -> list[RunReport]:
    from app.starter import start_staged_run

    problem = await check_services(settings)
    if problem:
        raise CliError(problem)
    client = await _connect(settings)
    handles = [await start_staged_run(client, settings.task_queue, options.with_mode(mode).to_input()) for mode in Mode]
    for h in handles:
        out.print(f"started {h.id}: {ui_link(settings.temporal.ui_url, client.namespace, h.id)}")
    reports = await asyncio.gather(*(wait_for_report(client, h, ui_url=settings.temporal.ui_url) for h in handles))
    for r in reports:
        print_report(out, r)
    side_by_side(out, list(reports))
    return list(reports)


@app.command()
def bench(
    stages: Annotated[int, typer.Option("--stages", "-n", min=1, help="Stages per run.")] = 3,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Concurrency 1: runs per side per round.")] = 5,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds of each phase (sides take turns).")] = 5,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=2, help="Saturation: runs at once.")] = 50,
    callback_delay: Annotated[
        float, typer.Option("--callback-delay", min=0, help="Concurrency 1: seconds from request to callback.")
    ] = 0.05,
    sides: Annotated[str, typer.Option("--sides", help="all, or side keys: p0-signal,p1-signal,...")] = "all",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the JSON, markdown and PNG.")] = Path("docs/bench"),
    quick: Annotated[bool, typer.Option("--quick", help="A tiny plan that only checks everything works.")] = False,
    scale: Annotated[int, typer.Option("--scale", min=0, help="Instead: N runs waiting at once, then advanced.")] = 0,
    scale_mode: Annotated[str, typer.Option("--scale-mode", help="Mode of the scale run's runs.")] = "signal",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON on stdout.")] = False,
    worker_cache: Annotated[
        int | None, typer.Option("--worker-cache", min=0, help="Workers' WORKER_MAX_CACHED_WORKFLOWS.")
    ] = None,
    callback_env: Annotated[
        str, typer.Option("--callback-env", help="KEY=VALUE,... for the callback server (e.g. CALLBACK_HTTP=h11).")
    ] = "",
    ab_callback_env: Annotated[
        str | None,
        typer.Option("--ab-callback-env", help="A/B: a second callback server with KEY=VALUE,...; HTTP sides twice."),
    ] = None,
) -> None:
    """P0 (SDK) against P1-P3 (HTTP callbacks) on a stack of its own; results JSON, markdown and PNG under --out."""
    from cli.bench import BenchOptionError, BenchOptions, BenchUnavailableError, run_bench_command

    options = BenchOptions(
        stages,
        runs,
        rounds,
        concurrency,
        callback_delay,
        sides,
        out_dir,
        quick,
        scale,
        scale_mode,
        as_json,
        worker_cache,
        callback_env,
        ab_callback_env,
    )
    try:
        code = run_bench_command(options)
    except BenchUnavailableError as exc:
        raise CliError(str(exc)) from exc
    except BenchOptionError as exc:  # a bad --sides or --scale-mode, found before anything starts
        raise CliError(str(exc), code=2) from exc
    raise typer.Exit(code)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    _exit(code)


def main() -> None:
    """Console-script entry: every error is one line on stderr with a non-zero exit code."""
    try:
        # Without standalone mode, click hands back the code of a `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
    except CliError as exc:
        _fail(exc.message, exc.code)
    except (OptionError, PipelineError, InputError) as exc:
        _fail(str(exc), 2)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors: bad or missing options
        _fail(exc.format_message(), exc.exit_code)
    except typer.Exit as exc:
        _exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> NoReturn:
    # Skip interpreter teardown: with the SDK's Rust runtime threads still alive it can abort with
    # "PyGILState_Release ... finalizing" (temporalio/sdk-python#300) and turn a success into exit 134.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
