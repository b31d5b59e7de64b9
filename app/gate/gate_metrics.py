"""The gate's own metrics, from workflow code through the SDK's metric meter (so they reach the worker's
Prometheus endpoint, WORKER_METRICS_BIND).

The meter is replay-safe: a replayed workflow task records nothing, so a worker restart or a cache eviction
never counts a stage twice. Every series carries the SDK's `namespace`, `task_queue` and `workflow_type`.
Counters are cumulative per worker process; alert on their `increase()` summed over workers (deploy/alerts.yml).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

STAGES_STARTED = "stagegate_stages_started"
STAGES_ENDED = "stagegate_stages_ended"
STAGE_TIMEOUTS = "stagegate_stage_timeouts"
CALLBACKS_REFUSED = "stagegate_gate_callbacks_refused"
CALLBACK_WAIT = "stagegate_callback_wait_seconds"
# Request accepted -> callback: seconds to a day (a stage's budget can be long).
CALLBACK_WAIT_BUCKETS = (0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)


class GateMetrics:
    """Counters and a histogram for one workflow run's gate; made in the workflow (the meter is per run)."""

    def __init__(self) -> None:
        meter = workflow.metric_meter()
        self._started = meter.create_counter(STAGES_STARTED, "Stages opened by the gate, by mode.")
        self._ended = meter.create_counter(
            STAGES_ENDED, "Stages ended, by mode, outcome and what advanced them (callback, manual, reconcile, ...)."
        )
        self._timeouts = meter.create_counter(STAGE_TIMEOUTS, "Stages that ended timed out, by mode.")
        self._refused = meter.create_counter(
            CALLBACKS_REFUSED, "advance_stage messages the gate did not take, by reason (duplicate, stale, ...)."
        )
        self._wait = meter.create_histogram_float(
            CALLBACK_WAIT, "Time from the service accepting a stage's request to its callback, by mode.", "s"
        )

    def stage_started(self, mode: str) -> None:
        """A stage opened."""
        self._started.add(1, {"mode": mode})

    def stage_ended(self, mode: str, outcome: str, advanced_by: str | None, *, timed_out: bool) -> None:
        """A stage ended; a timed-out one counts in the timeouts too."""
        self._ended.add(1, {"mode": mode, "outcome": outcome, "advanced_by": advanced_by or "none"})
        if timed_out:
            self._timeouts.add(1, {"mode": mode})

    def refused(self, reason: str) -> None:
        """A callback the gate did not take."""
        self._refused.add(1, {"reason": reason})

    def callback_wait(self, mode: str, accepted_at: str | None, callback_at: str | None) -> None:
        """Seconds from the request's acceptance (or the stage's start) to its callback, when both are known."""
        if not accepted_at or not callback_at:
            return
        try:
            seconds = (datetime.fromisoformat(callback_at) - datetime.fromisoformat(accepted_at)).total_seconds()
        except ValueError:
            return
        self._wait.record(max(seconds, 0.0), {"mode": mode})
