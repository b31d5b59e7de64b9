"""How the CLI shows runs to people (Rich tables) and to machines (one JSON object)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.demo.payloads import RunResult, RunStatus
from app.gate.types import Outcome, StageRecord

if TYPE_CHECKING:
    # Rich is imported where a table is drawn: `--json` output and `--no-wait` never pay for it.
    from rich.console import Console
    from rich.table import Table

RESULT_CHARS = 150  # a pipeline stage's result, as shown after the table (`--json` has it whole)

OUTCOME_STYLE = {
    Outcome.PENDING: "yellow",
    Outcome.COMPLETED: "green",
    Outcome.FAILED: "red",
    Outcome.CANCELLED: "magenta",
    Outcome.TIMED_OUT: "red",
}


@dataclass(frozen=True)
class RunReport:
    """How a run ended, as the CLI reports it."""

    workflow_id: str
    run_id: str | None
    mode: str
    status: str  # completed | failed | cancelled | terminated | timed_out | running
    stages: list[StageRecord]
    ui_url: str
    error_type: str | None = None
    error: str | None = None
    wall_seconds: float | None = None
    actions: list[str] = field(default_factory=list)
    # Pipeline runs: the pipeline's name, and the stages that did not complete but said `on_failure: continue`.
    pipeline: str | None = None
    continued_after: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO timestamps, or None when either is missing."""
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _action(actions: list[str], index: int) -> str:
    if not actions:
        return "-"
    return actions[0] if len(actions) == 1 else actions[index] if index < len(actions) else "-"


def stage_table(stages: list[StageRecord], *, actions: list[str] | None = None, title: str | None = None) -> Table:
    """One row per stage: mode, outcome, what advanced it, attempts, progress and how long each part took.

    `actions=None` (pipeline runs) leaves the demo's action column out.
    """
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    left = ("action", "mode", "outcome", "by")
    columns: tuple[str, ...] = (
        "stage",
        "action",
        "mode",
        "outcome",
        "by",
        "attempts",
        "progress",
        "dups",
        "request",
        "callback",
    )
    if actions is None:
        columns = tuple(c for c in columns if c != "action")
    for column in (*columns, "stage total"):
        table.add_column(column, justify="left" if column in left else "right")
    for index, s in enumerate(stages):
        style = OUTCOME_STYLE.get(s.outcome, "")
        action = [] if actions is None else [_action(actions, index)]
        table.add_row(
            str(s.stage),
            *action,
            s.mode.value,
            f"[{style}]{s.outcome.value}[/{style}]" if style else s.outcome.value,
            s.advanced_by.value if s.advanced_by else "-",
            str(s.attempts),
            str(s.progress),
            str(s.duplicates_ignored),
            _fmt(seconds_between(s.requested_at, s.accepted_at)),
            _fmt(seconds_between(s.requested_at, s.callback_at)),
            _fmt(seconds_between(s.requested_at, s.advanced_at)),
        )
    return table


def status_table(workflow_id: str, status: RunStatus) -> Table:
    """The live view of a run: its stages and what it waits for."""
    title = (
        f"{workflow_id}  mode={status.mode.value}  stage {status.current_stage or '-'}/{status.stages_total}"
        f"  waiting for: {status.waiting_for.value}"
    )
    return stage_table(status.stages, actions=[a.value for a in status.actions], title=title)


def print_report(console: Console, report: RunReport) -> None:
    """The end of a run for people: table, outcome line, timings, Web UI link."""
    if report.pipeline is None:
        table = stage_table(report.stages, actions=report.actions, title=f"{report.workflow_id} ({report.mode} mode)")
    else:
        title = f"{report.workflow_id} (pipeline {report.pipeline}, {report.mode} mode)"
        table = stage_table(report.stages, actions=None, title=title)
    console.print(table)
    for s in report.stages:
        if str(s.stage) in report.continued_after:
            console.print(f"stage {s.stage} {s.outcome.value} (on_failure: continue): {s.error}", markup=False)
        elif report.pipeline is not None and s.result is not None:
            text = json.dumps(s.result, default=str)
            shown = text if len(text) <= RESULT_CHARS else text[: RESULT_CHARS - 3] + "..."
            console.print(f"{s.stage} result: {shown}", markup=False, highlight=False, soft_wrap=True)
    line = f"[bold]{report.status}[/bold]"
    if report.error:
        line += f"  {report.error_type}: {report.error}"
    if report.wall_seconds is not None:
        line += f"  in {report.wall_seconds:.2f}s"
    console.print(line)
    console.print(f"Web UI: {report.ui_url}")


def side_by_side(console: Console, reports: list[RunReport]) -> None:
    """Several runs (one per mode) compared stage by stage."""
    from rich.table import Table

    table = Table(title=f"{' vs '.join(r.mode for r in reports)}, same work", title_justify="left")
    table.add_column("")
    for r in reports:
        table.add_column(f"{r.mode} mode", justify="right")
    rows: list[tuple[str, list[Any]]] = [
        ("status", [r.status for r in reports]),
        ("stages", [f"{sum(s.outcome is Outcome.COMPLETED for s in r.stages)}/{len(r.stages)}" for r in reports]),
        ("wall time", [_fmt(r.wall_seconds) for r in reports]),
        ("attempts", [sum(s.attempts for s in r.stages) for r in reports]),
        ("progress reports", [sum(s.progress for s in r.stages) for r in reports]),
        (
            "callback -> advance (mean)",
            [_fmt(_mean([seconds_between(s.callback_at, s.advanced_at) for s in r.stages])) for r in reports],
        ),
        ("workflow ID", [r.workflow_id for r in reports]),
    ]
    for name, values in rows:
        table.add_row(name, *[str(v) for v in values])
    console.print(table)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def report_from_result(workflow_id: str, run_id: str | None, result: RunResult, ui_url: str) -> RunReport:
    """A completed run's report."""
    return RunReport(
        workflow_id=workflow_id,
        run_id=run_id,
        mode=result.mode.value,
        status="completed",
        stages=result.stages,
        ui_url=ui_url,
        wall_seconds=seconds_between(result.started_at, result.finished_at),
        actions=[a.value for a in result.actions],
    )
