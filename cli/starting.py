"""`cli start`: start a demo or pipeline run; with `--wait`, follow it to the end.

`start --no-wait` is the CLI's hot path (scripts and cron bursts call it many times), so this module imports
only the client plumbing (`cli.session`) and the demo's input types at start-up: the report, progress and
Rich code (`cli.outcomes`, `cli.render`, `cli.consoles`) load when there is a run to follow, and the pipeline
types only for `--pipeline`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from temporalio.service import RPCError, RPCStatusCode

from app.starter import start_staged_run
from cli.consoles import out
from cli.errors import CliError
from cli.run_options import RunOptions
from cli.session import checked_client, for_starting, ui_link

if TYPE_CHECKING:
    from rich.console import RenderableType
    from temporalio.client import Client, WorkflowHandle

    from app.demo.payloads import RunResult, RunStatus
    from app.gate.types import GateStatus
    from app.pipeline.types import Pipeline, PipelineResult, PipelineRunInput
    from app.runtime.config import Settings
    from cli.render import RunReport

S = TypeVar("S")  # the status a run reports while it is followed

# Live progress on a terminal: one status query a second is plenty for stages that take seconds, and costs the
# worker and the server little (the result itself is one long poll). Piped output changes less often.
PROGRESS_SECONDS_TERMINAL = 1.0
PROGRESS_SECONDS_PIPED = 2.0


def _progress_seconds() -> float:
    return PROGRESS_SECONDS_TERMINAL if out().is_terminal else PROGRESS_SECONDS_PIPED


def _started_json(handle: WorkflowHandle[object, object], link: str) -> str:
    return json.dumps({"workflow_id": handle.id, "run_id": handle.result_run_id, "ui_url": link})


async def start(
    settings: Settings, options: RunOptions, workflow_id: str | None, *, wait: bool, as_json: bool, preflight: bool
) -> RunReport | None:
    """Start a demo run; with `wait`, follow it to the end."""
    client = await checked_client(settings, preflight=preflight)
    try:
        handle = await start_staged_run(
            for_starting(client, settings), settings.task_queue, options.to_input(), workflow_id=workflow_id
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a workflow with ID {workflow_id!r} is already running") from exc
        raise
    link = ui_link(settings.temporal.ui_url, client.namespace, handle.id)
    if not wait:
        if as_json:
            print(_started_json(handle, link))
        else:
            print(f"started {handle.id} ({options.mode.value} mode)\nWeb UI: {link}", flush=True)
        return None
    from cli.outcomes import wait_for_report

    if as_json:
        report = await wait_for_report(client, handle, ui_url=settings.temporal.ui_url)
        print(report.to_json())
        return report
    print(f"started {handle.id} ({options.mode.value} mode, {options.stages} stages)\nWeb UI: {link}", flush=True)
    report = await _watch(client, handle, settings)
    _print_report(report)
    return report


async def start_pipeline(
    settings: Settings,
    run_input: PipelineRunInput,
    workflow_id: str | None,
    *,
    wait: bool,
    as_json: bool,
    preflight: bool,
) -> RunReport | None:
    """Start a pipeline run; with `wait`, follow it to the end."""
    from app.starter import start_pipeline_run

    pipeline = run_input.pipeline
    client = await checked_client(settings, preflight=preflight, service=False)
    try:
        handle = await start_pipeline_run(
            for_starting(client, settings), settings.task_queue, run_input, workflow_id=workflow_id
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a workflow with ID {workflow_id!r} is already running") from exc
        raise
    link = ui_link(settings.temporal.ui_url, client.namespace, handle.id)
    mode = run_input.mode.value
    if not wait:
        if as_json:
            print(_started_json(handle, link))
        else:
            print(f"started {handle.id} (pipeline {pipeline.name}, {mode} mode)\nWeb UI: {link}", flush=True)
        return None
    from cli.outcomes import wait_for_pipeline_report

    if as_json:
        report = await wait_for_pipeline_report(client, handle, ui_url=settings.temporal.ui_url, mode=mode)
        print(report.to_json())
        return report
    print(
        f"started {handle.id} (pipeline {pipeline.name}, {mode} mode, {len(pipeline.stages)} stages)\nWeb UI: {link}",
        flush=True,
    )
    report = await _watch_pipeline(client, handle, settings, pipeline, mode)
    _print_report(report)
    return report


def _print_report(report: RunReport) -> None:
    from cli.render import print_report

    print_report(out(), report)


async def _watch_pipeline(
    client: Client, handle: WorkflowHandle[object, PipelineResult], settings: Settings, pipeline: Pipeline, mode: str
) -> RunReport:
    """Live progress from the gate's own `gate_status` query, which every gate user answers."""
    from cli.outcomes import wait_for_pipeline_report
    from cli.render import stage_table

    names = [s.name for s in pipeline.stages]

    def where(status: GateStatus) -> str:
        current = status.current_stage
        number = names.index(current) + 1 if isinstance(current, str) and current in names else 0
        return f"stage {current or '-'} ({number}/{len(names)}): waiting for {status.waiting_for.value}"

    return await _follow(
        lambda on_status: wait_for_pipeline_report(
            client,
            handle,
            ui_url=settings.temporal.ui_url,
            mode=mode,
            on_status=on_status,
            poll_seconds=_progress_seconds(),
        ),
        table=lambda s: stage_table(s.stages, actions=None, title=f"{handle.id}  pipeline {pipeline.name}  {where(s)}"),
        line=where,
    )


async def _watch(client: Client, handle: WorkflowHandle[object, RunResult], settings: Settings) -> RunReport:
    """Live per-stage progress of a demo run."""
    from cli.outcomes import wait_for_report
    from cli.render import status_table

    def wait(on_status: Callable[[RunStatus], None]) -> Awaitable[RunReport]:
        return wait_for_report(
            client, handle, ui_url=settings.temporal.ui_url, on_status=on_status, poll_seconds=_progress_seconds()
        )

    def table(status: RunStatus) -> RenderableType:
        return status_table(handle.id, status)

    def line(status: RunStatus) -> str:
        return f"stage {status.current_stage or '-'}/{status.stages_total}: waiting for {status.waiting_for.value}"

    return await _follow(wait, table=table, line=line)


async def _follow(
    wait: Callable[[Callable[[S], None]], Awaitable[RunReport]],
    *,
    table: Callable[[S], RenderableType],
    line: Callable[[S], str],
) -> RunReport:
    """Wait for a run, showing each status it reports: a Rich live table on a terminal, a line per change
    otherwise. Redrawn when a status arrives, not on a timer: an idle wait costs no CPU."""
    console = out()
    if console.is_terminal:
        from rich.live import Live

        with Live(console=console, auto_refresh=False, transient=True) as live:
            return await wait(lambda status: live.update(table(status), refresh=True))
    last: list[str] = []

    def show(status: S) -> None:
        text = line(status)
        if not last or last[-1] != text:
            last.append(text)
            print(text, flush=True)

    return await wait(show)
