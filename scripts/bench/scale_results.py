"""What a scale run measured: its figures and the once-a-second timeline (scale.py writes, scale_report.py reads)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scripts.bench.results import finite


@dataclass(frozen=True)
class Point:
    """The timeline, once a second: seconds since start, counts, CPU % and RSS MB of each process."""

    t: float
    started: int
    waiting: int
    callbacks_answered: int
    completed: int
    cpu_percent: dict[str, float]
    rss_mb: dict[str, float]


@dataclass
class ScaleResults:
    """What a scale run measured."""

    meta: dict[str, Any]
    runs: int = 0
    started: int = 0
    waiting: int = 0
    completed: int = 0
    failed_or_open: int = 0
    start_seconds: float = math.nan
    all_waiting_seconds: float = math.nan
    advance_seconds: float = math.nan
    deliver_seconds: float = math.nan  # first callback POST until every callback has its answer
    start_rate: float = math.nan
    advance_rate: float = math.nan
    callback_answers: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    rss_at_waiting_mb: dict[str, float] = field(default_factory=dict)  # the moment all N runs wait
    history_bytes_per_run: float = math.nan  # mean over the sampled completed runs
    history_events_per_run: float = math.nan
    busiest: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> process -> mean CPU %
    saturated_first: dict[str, str] = field(default_factory=dict)  # phase -> sentence
    timeline: list[Point] = field(default_factory=list)

    @property
    def all_completed(self) -> bool:
        return self.runs > 0 and self.completed == self.runs

    @property
    def advance_over_deliver(self) -> float:
        """How much later the last run advanced than the last callback was delivered (the goal: <= 1.2)."""
        return self.advance_seconds / self.deliver_seconds if self.deliver_seconds else math.nan

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["all_completed"] = self.all_completed
        data["advance_over_deliver"] = self.advance_over_deliver
        return dict(finite(data))
