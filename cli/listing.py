"""`cli list`: stagegate runs an operator is looking for, as a table or JSON.

Visibility narrows first (workflow type, status, mode, start or close time); what only the run knows (the
stage it is at, what it waits on and since when) comes from the gate's `gate_status` query, a few runs at a
time. Runs no longer write per-stage search attributes (each upsert is a history event), so:

- `--waiting-longer D`: visibility keeps runs started more than D ago (a run cannot have waited longer than
  it has run), then each run says since when its stage waits.
- `--waiting-on TEXT`: the run's declared or reported service (`POST api.example.com`, `POST ${env.NAME}`).
- `--timed-out-within D`: runs closed in the last D as failed or timed out (visibility), whose close event
  says a stage timed out (`StageTimedOut`) or the run hit its own execution timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.enums.v1 import EventType, HistoryEventFilterType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from app.demo.payloads import WORKFLOW_NAME
from app.gate import search_attributes
from app.gate.types import ERR_STAGE_TIMED_OUT, QUERY_GATE_STATUS, GateStatus, Mode
from app.pipeline.types import PIPELINE_WORKFLOW_NAME

# Status queries in flight at once (each may replay a run on a worker).
QUERY_CONCURRENCY = 16
QUERY_TIMEOUT = timedelta(seconds=5)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


class DurationError(ValueError):
    """A duration option that is not `90s`, `10m`, `2h`, `1d` or plain seconds."""


def parse_duration(text: str, option: str) -> timedelta:
    """`90s`, `10m`, `2h`, `1d`, or seconds."""
    match = _DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise DurationError(f"{option} takes a positive duration like 90s, 10m, 2h or 1d, got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


@dataclass(frozen=True)
class ListFilter:
    """What `cli list` looks for."""

    stage: int | None = None
    mode: Mode | None = None
    include_closed: bool = False
    waiting_longer: timedelta | None = None
    waiting_on: str | None = None
    timed_out_within: timedelta | None = None
    limit: int = 50
    scan: int = 1000

    @property
    def asks_runs(self) -> bool:
        """Whether rows must be filtered by what the runs themselves say (so up to `scan` are looked at)."""
        return self.stage is not None or self.waiting_longer is not None or self.waiting_on is not None


@dataclass(frozen=True)
class Row:
    """One listed run."""

    workflow_id: str
    workflow_type: str
    status: str
    mode: str | None
    started: str | None
    stage: int | None = None
    stage_name: str | None = None
    waiting_for: str | None = None
    waiting_on: str | None = None
    waiting_since: str | None = None
    waiting_seconds: float | None = None
    deadline: str | None = None
    closed: str | None = None
    timed_out: str | None = None  # why, for --timed-out-within


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def visibility_query(f: ListFilter, now: datetime) -> str:
    """The list filter's visibility part (everything Temporal can answer without asking the runs)."""
    clauses = [f"(WorkflowType = '{WORKFLOW_NAME}' OR WorkflowType = '{PIPELINE_WORKFLOW_NAME}')"]
    if f.timed_out_within is not None:
        clauses.append("(ExecutionStatus = 'Failed' OR ExecutionStatus = 'TimedOut')")
        clauses.append(f"CloseTime > '{_iso(now - f.timed_out_within)}'")
    elif not f.include_closed:
        clauses.append("ExecutionStatus = 'Running'")
    if f.waiting_longer is not None:
        clauses.append(f"StartTime < '{_iso(now - f.waiting_longer)}'")
    if f.mode is not None:
        clauses.append(f"{search_attributes.MODE.name} = '{f.mode.value}'")
    return " AND ".join(clauses)


def _position(gate: GateStatus) -> int | None:
    """The open stage's number: the demo's key, or its place among the run's stage records (pipelines)."""
    current = gate.current_stage
    if current is None:
        return None
    if isinstance(current, int):
        return current
    names = [r.stage for r in gate.stages]
    return names.index(current) + 1 if current in names else None


def _row(wf: WorkflowExecution, gate: GateStatus | None, now: datetime) -> Row:
    status = wf.status.name.lower() if isinstance(wf.status, WorkflowExecutionStatus) else "unknown"
    row = Row(
        workflow_id=wf.id,
        workflow_type=wf.workflow_type,
        status=status,
        mode=wf.typed_search_attributes.get(search_attributes.MODE),
        started=_iso(wf.start_time) if wf.start_time else None,
        closed=_iso(wf.close_time) if wf.close_time else None,
    )
    if gate is None:
        # A closed run from before v6 wrote its stage to a search attribute.
        return _with(row, stage=wf.typed_search_attributes.get(search_attributes.STAGE))
    waited = None
    if gate.waiting_since is not None:
        waited = max((now - datetime.fromisoformat(gate.waiting_since)).total_seconds(), 0.0)
    return _with(
        row,
        stage=_position(gate),
        stage_name=None if gate.current_stage is None else str(gate.current_stage),
        waiting_for=gate.waiting_for.value,
        waiting_on=gate.waiting_on,
        waiting_since=gate.waiting_since,
        waiting_seconds=waited,
        deadline=gate.deadline,
    )


def _with(row: Row, **changes: Any) -> Row:
    return Row(**{**asdict(row), **changes})


def _keeps(f: ListFilter, row: Row) -> bool:
    if f.stage is not None and row.stage != f.stage:
        return False
    if f.waiting_longer is not None and (
        row.waiting_seconds is None or row.waiting_seconds <= f.waiting_longer.total_seconds()
    ):
        return False
    return f.waiting_on is None or (row.waiting_on is not None and f.waiting_on.lower() in row.waiting_on.lower())


async def _gate_status(client: Client, wf: WorkflowExecution) -> GateStatus | None:
    try:
        status: GateStatus = await client.get_workflow_handle(wf.id, run_id=wf.run_id).query(
            QUERY_GATE_STATUS, result_type=GateStatus, rpc_timeout=QUERY_TIMEOUT
        )
    except (RPCError, TimeoutError):
        return None  # no worker answered in time
    return status


async def _why_timed_out(client: Client, wf: WorkflowExecution) -> str | None:
    """From the run's close event only: a stage's timeout (its message), the run's own timeout, or None."""
    request = GetWorkflowExecutionHistoryRequest(
        namespace=client.namespace,
        execution=ExecutionRef(workflow_id=wf.id, run_id=wf.run_id),
        history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
    )
    response = await client.workflow_service.get_workflow_execution_history(request)
    for event in response.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            return "the run's execution timeout"
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            if failure.application_failure_info.type == ERR_STAGE_TIMED_OUT:
                return failure.message
    return None


async def find_runs(client: Client, f: ListFilter, *, now: datetime | None = None) -> tuple[str, list[Row]]:
    """The visibility query used, and the rows that pass the whole filter (at most `limit`)."""
    now = now or datetime.now(UTC)
    query = visibility_query(f, now)
    looked_at = f.scan if f.asks_runs or f.timed_out_within is not None else f.limit
    listed = [wf async for wf in client.list_workflows(query, limit=looked_at)]
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def look(wf: WorkflowExecution) -> Row | None:
        async with gate:
            if f.timed_out_within is not None:
                why = await _why_timed_out(client, wf)
                return None if why is None else _with(_row(wf, None, now), timed_out=why)
            running = wf.status is WorkflowExecutionStatus.RUNNING
            row = _row(wf, await _gate_status(client, wf) if running else None, now)
            return row if _keeps(f, row) else None

    rows = [row for row in await asyncio.gather(*(look(wf) for wf in listed)) if row is not None]
    return query, rows[: f.limit]


def as_json(rows: list[Row]) -> str:
    """The rows as a JSON array of objects."""
    return json.dumps([asdict(r) for r in rows])


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def print_table(query: str, rows: list[Row]) -> None:
    """The rows as a Rich table, for people."""
    from rich.table import Table

    from cli.consoles import out

    console = out()
    timed_out = any(r.timed_out for r in rows)
    table = Table(title=f"query: {query}", title_justify="left")
    for column in ("workflow ID", "status", "mode", "stage"):
        table.add_column(column)
    extra = ("closed", "why") if timed_out else ("waiting for", "on", "for", "deadline")
    for column in extra:
        table.add_column(column)
    for r in rows:
        stage = "-" if r.stage is None else str(r.stage)
        if r.stage_name and r.stage_name != stage:
            stage += f" {r.stage_name}"
        cells = [r.workflow_id, r.status, r.mode or "-", stage]
        if timed_out:
            cells += [r.closed or "-", r.timed_out or "-"]
        else:
            cells += [r.waiting_for or "-", r.waiting_on or "-", _ago(r.waiting_seconds), r.deadline or "-"]
        table.add_row(*cells)
    console.print(table)
    console.print(f"{len(rows)} run(s)")
