"""Count what a reliability row did to its runs, and print the row: JSON for machines, a Markdown table row."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

from app.demo.payloads import RunResult, StagedRunInput
from app.gate.types import AdvancedBy, Outcome
from app.starter import start_staged_run
from scripts.stack.runs import RunEnd, wait_end

Handle = WorkflowHandle[object, RunResult]


@dataclass(frozen=True)
class Tally:
    """How the runs of a row ended."""

    runs: int
    completed: int
    lost: int  # did not complete (failed, or not closed in time)
    double_advanced: int  # a stage advanced twice, or a run whose stages are not exactly 1..N once each
    stages_via_reconcile: int
    runs_via_reconcile: int
    requests_repeated: int  # token mode: requests made again after a hand-off check found nothing
    stages_retried: int  # stages whose request needed more than one attempt
    duplicates_ignored: int
    slowest_stage_seconds: float  # requested -> advanced, worst stage
    p95_stage_seconds: float
    failures: dict[str, int] = field(default_factory=dict)
    lost_ids: list[str] = field(default_factory=list)


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def tally(handles: Sequence[Handle], ends: Sequence[RunEnd | None], stages: int) -> Tally:
    """Count lost, double-advanced and reconciled runs from their results."""
    lost_ids = [h.id for h, e in zip(handles, ends, strict=True) if e is None or e.result is None]
    failures = Counter(
        "not closed in time" if e is None else str(e.error_type) for e in ends if e is None or e.result is None
    )
    results = [e.result for e in ends if e is not None and e.result is not None]
    double = sum(1 for r in results if [s.stage for s in r.stages] != list(range(1, stages + 1)))
    reconciled = [sum(1 for s in r.stages if s.advanced_by is AdvancedBy.RECONCILE) for r in results]
    all_stages = [s for r in results for s in r.stages]
    durations = sorted(_seconds(s.requested_at, s.advanced_at) for s in all_stages)
    return Tally(
        runs=len(handles),
        completed=len(results),
        lost=len(lost_ids),
        double_advanced=double + sum(1 for s in all_stages if s.outcome is not Outcome.COMPLETED),
        stages_via_reconcile=sum(reconciled),
        runs_via_reconcile=sum(1 for n in reconciled if n),
        requests_repeated=sum(s.requests_repeated for s in all_stages),
        stages_retried=sum(1 for s in all_stages if s.attempts > 1),
        duplicates_ignored=sum(r.duplicates_ignored for r in results),
        slowest_stage_seconds=round(durations[-1], 2) if durations else 0.0,
        p95_stage_seconds=round(durations[int(0.95 * (len(durations) - 1))], 2) if durations else 0.0,
        failures=dict(failures),
        lost_ids=lost_ids[:20],
    )


def server_errors(service_log: Path) -> Counter[int]:
    """Callback answers with a 5xx status, by status, from the service mock's JSON log (every attempt is logged)."""
    counts: Counter[int] = Counter()
    for path in sorted(service_log.parent.glob(service_log.stem + "*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            status = entry.get("status_code")
            if isinstance(status, int) and status >= 500:
                counts[status] += 1
    return counts


def exhausted_callbacks(service_log: Path) -> int:
    """Callbacks the service mock gave up on (its retries ran out): they can only come home via reconcile."""
    text = service_log.read_text(errors="replace") if service_log.exists() else ""
    return text.count('"callback attempts exhausted"')


async def start_runs(
    client: Client, task_queue: str, inputs: Sequence[StagedRunInput], *, spread_seconds: float = 0.0
) -> list[Handle]:
    """Start the runs, evenly spread over `spread_seconds` (0: as fast as the server takes them)."""
    handles: list[Handle] = []
    began = time.monotonic()
    for i, inp in enumerate(inputs):
        if spread_seconds:
            await asyncio.sleep(max(0.0, began + spread_seconds * i / len(inputs) - time.monotonic()))
        handles.append(await start_staged_run(client, task_queue, inp))
    return handles


async def wait_all(handles: Sequence[Handle], *, timeout: float) -> list[RunEnd | None]:
    """Every run's end (None: not closed within `timeout` from now)."""
    deadline = time.monotonic() + timeout

    async def one(handle: Handle) -> RunEnd | None:
        try:
            return await wait_end(handle, timeout=max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            return None

    return list(await asyncio.gather(*(one(h) for h in handles)))


@dataclass(frozen=True)
class Row:
    """One line of docs/RELIABILITY.md."""

    fault: str
    tries: str
    expected: str
    tally: Tally
    server_errors: dict[int, int]
    command: str
    notes: str = ""

    @property
    def ok(self) -> bool:
        """The row's goal: no run lost or double-advanced, no 5xx (the script's exit code says so)."""
        return not (self.tally.lost or self.tally.double_advanced or self.five_xx)

    @property
    def five_xx(self) -> int:
        """5xx answers other than 503 (503 + Retry-After is the documented "try again" answer)."""
        return sum(n for status, n in self.server_errors.items() if status != 503)

    @property
    def observed(self) -> str:
        t = self.tally
        text = f"{t.completed}/{t.runs} runs completed"
        if t.failures:
            text += f"; not completed: {t.failures}"
        text += f"; stage time p95 {t.p95_stage_seconds:g} s, slowest {t.slowest_stage_seconds:g} s"
        if t.stages_retried:
            text += f"; {t.stages_retried} stages retried their request"
        if t.requests_repeated:
            text += f"; {t.requests_repeated} token requests made again"
        if self.server_errors.get(503):
            text += f"; {self.server_errors[503]} callback answers were 503"
        return text + (f"; {self.notes}" if self.notes else "")

    def markdown(self) -> str:
        t = self.tally
        cells = [
            self.fault, self.tries, self.expected, self.observed, str(t.lost), str(t.double_advanced),
            str(self.five_xx), f"{t.runs_via_reconcile} runs ({t.stages_via_reconcile} stages)", f"`{self.command}`",
        ]  # fmt: skip
        return "| " + " | ".join(cells) + " |"

    def emit(self) -> None:
        """Print the JSON document, then the table row."""
        doc = asdict(self) | {"observed": self.observed, "five_xx": self.five_xx}
        print(json.dumps(doc, indent=2, default=str))
        print(self.markdown(), flush=True)
