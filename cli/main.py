"""The `cli` command line: start runs in signal, token or update mode, watch them, signal them, list them.

Start-up stays light: this module imports typer and our small option/value modules only, so `cli --help` and a
bad option answer in a fraction of a second. Commands import what they need when they run: `cli start` imports
`cli.starting` (the Temporal client and settings, no Rich), the others `cli.operations`.
"""

# No `from __future__ import annotations`: typer reads every option's annotation, and string annotations cost an
# eval (a compile) each, in every `cli` process.

import copy
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.main
from typer.core import TyperGroup
from typer.models import CommandInfo

from app.errors import InputError, InvalidCallbackError, PipelineError
from app.gate.types import CallbackStatus, Mode, StageCallback
from cli.errors import CliError
from cli.pipeline_cmd import parse_input, pipeline_app
from cli.run_options import OptionError, RunOptions, parse_actions, parse_mode, parse_stage_modes

app = typer.Typer(
    help="stagegate: Temporal workflows that wait on HTTP callbacks, in signal, token or update mode.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain (click-style) help: Rich-formatted help imports ~0.2 CPU-seconds of modules for every `--help`.
    rich_markup_mode=None,
)
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
        from app.pipeline.file import load_pipeline  # YAML + JSON Schema: only for pipeline runs

        pipeline = load_pipeline(pipeline_file)  # PipelineError: one line, exit 2, nothing started
        from app.pipeline.types import PipelineRunInput

        run_input = PipelineRunInput(pipeline=pipeline, input=parse_input(input_, pipeline), mode=parse_mode(mode))
        from cli import session, starting

        settings = session.settings()
        report = session.run(
            starting.start_pipeline(settings, run_input, workflow_id, wait=wait, as_json=as_json, preflight=preflight)
        )
        if report is not None and report.status != "completed":
            raise typer.Exit(EXIT_RUN_NOT_COMPLETED)
        return
    if input_ is not None:
        raise OptionError("--input is for --pipeline runs; the demo takes --stages, --action, ...")
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
    # `cli.starting`, not `cli.operations`: the start path loads no status, report or Rich code.
    from cli import session, starting

    settings = session.settings()
    report = session.run(
        starting.start(settings, options, workflow_id, wait=wait, as_json=as_json, preflight=preflight)
    )
    if report is not None and report.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


# --- status / result / signal / list -------------------------------------------------------------


@app.command()
def status(
    workflow_id: Annotated[str, typer.Argument(help="Workflow ID.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a run's mode, current stage, per-stage records and what it waits for."""
    from cli import operations

    operations.run(operations.status(operations.settings(), workflow_id, as_json=as_json))


@app.command()
def result(
    workflow_id: Annotated[str, typer.Argument(help="Workflow ID.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for an open run.")] = 600.0,
) -> None:
    """Wait for a run's result (or how it failed) and print it."""
    from cli import operations

    report = operations.run(operations.result(operations.settings(), workflow_id, as_json=as_json, timeout=timeout))
    if report.status != "completed":
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


@app.command()
def signal(
    workflow_id: Annotated[str, typer.Argument(help="Workflow ID.")],
    stage: Annotated[str, typer.Option("--stage", "-s", help="The stage this callback is for: a number or a name.")],
    status_: Annotated[str, typer.Option("--status", help="completed | failed | cancelled | progress")] = "completed",
    result_json: Annotated[str | None, typer.Option("--result", help="Result as a JSON object.")] = None,
    error: Annotated[str | None, typer.Option("--error", help="Error message (for failed/cancelled).")] = None,
    callback_id: Annotated[str | None, typer.Option("--callback-id", help="Dedupe key; repeats are ignored.")] = None,
) -> None:
    """Send advance_stage by hand (what the callback server does in signal mode); runs in any mode take it."""
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
    from app.gate.rules import parse_stage_key  # the gate's callback rules: only `signal` needs them

    try:
        stage_key = parse_stage_key(stage)
    except InvalidCallbackError as exc:
        raise CliError(f"--stage: {exc}", 2) from None
    payload = StageCallback(stage=stage_key, status=cb_status, result=parsed, error=error, callback_id=callback_id)
    from cli import operations

    operations.run(operations.signal(operations.settings(), workflow_id, payload))


@app.command("list")
def list_runs(
    stage: Annotated[int | None, typer.Option("--stage", help="Only runs waiting at this stage.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", "-m", help="signal | token | update")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed runs too (default: running only).")] = False,
    waiting_longer: Annotated[
        str | None,
        typer.Option("--waiting-longer", help="Only runs whose stage has waited longer than this (90s, 10m, 2h, 1d)."),
    ] = None,
    waiting_on: Annotated[
        str | None,
        typer.Option("--waiting-on", help="Only runs waiting on a service whose `METHOD host` contains this text."),
    ] = None,
    timed_out_within: Annotated[
        str | None,
        typer.Option(
            "--timed-out-within",
            help="Runs that ended by a stage's (or their own) timeout in this last while, e.g. 1h.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    scan: Annotated[
        int, typer.Option("--scan", min=1, help="Filters the runs answer: ask at most this many runs.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array instead of a table.")] = False,
) -> None:
    """List stagegate runs, demo and pipeline: the stage each open run is at, what it waits on, since when."""
    from cli import listing, operations

    try:
        wanted = listing.ListFilter(
            stage=stage,
            mode=parse_mode(mode) if mode is not None else None,
            include_closed=all_,
            waiting_longer=listing.parse_duration(waiting_longer, "--waiting-longer") if waiting_longer else None,
            waiting_on=waiting_on,
            timed_out_within=(
                listing.parse_duration(timed_out_within, "--timed-out-within") if timed_out_within else None
            ),
            limit=limit,
            scan=scan,
        )
    except listing.DurationError as exc:
        raise OptionError(str(exc)) from None
    operations.run(operations.list_runs(operations.settings(), wanted, as_json=as_json))


# --- demo ---------------------------------------------------------------------------------


@app.command()
def demo(
    stages: Annotated[int, typer.Option("--stages", "-n", min=1)] = 3,
    time_to_request: Annotated[float, typer.Option("--time-to-request", "-ttr", min=0)] = 0.3,
    time_to_callback: Annotated[float, typer.Option("--time-to-callback", "-ttc", min=0)] = 0.8,
    action: Annotated[str, typer.Option("--action", "-a")] = "complete",
) -> None:
    """Run the same work once in each mode, at the same time, and print the results side by side."""
    options = RunOptions(
        mode=Mode.SIGNAL,
        stages=stages,
        actions=parse_actions(action, stages),
        time_to_request=time_to_request,
        time_to_callback=time_to_callback,
        stage_timeout=60.0,
    )
    from cli import operations

    reports = operations.run(operations.demo(operations.settings(), options))
    if any(r.status != "completed" for r in reports):
        raise typer.Exit(EXIT_RUN_NOT_COMPLETED)


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    _exit(code)


def _command_name(info: CommandInfo) -> str:
    callback_name = info.callback.__name__ if info.callback else ""
    return info.name or typer.main.get_command_name(callback_name)


def command_group(args: Sequence[str]) -> TyperGroup:
    """The click group that parses `args`. Building it turns every command's signature into click options, most
    of it for commands that will not run: when the first argument names a command, only that one is built. Its
    help, options and errors are the same; `cli --help`, a mistyped command (click suggests the close ones) and
    `cli pipeline ...` get the whole tree."""
    chosen = [c for c in app.registered_commands if args and _command_name(c) == args[0]]
    if not chosen:
        return typer.main.get_group(app)
    lean = copy.copy(app)
    lean.registered_commands = chosen
    lean.registered_groups = []
    return typer.main.get_group(lean)  # a group even with one command: `cli start ...` keeps its shape


def main() -> None:
    """Console-script entry: every error is one line on stderr with a non-zero exit code."""
    try:
        # Without standalone mode, click hands back the code of a `typer.Exit` instead of exiting.
        code = command_group(sys.argv[1:])(standalone_mode=False)
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
    session = sys.modules.get("cli.session")  # imported only if a command ran
    if session is not None:
        session.shutdown_tracing()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
