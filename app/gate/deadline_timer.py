"""One timer for all of a run's stage deadlines (gate v12, patch `stagegate-shared-deadline-timer`).

Before v12 every signal/update stage started a timer for its deadline and cancelled it when its callback came:
TIMER_STARTED + TIMER_CANCELED, two of a stage's ~12 history events (and every token stage did the same for its
hand-off check, whose "deadline" is `handoff_check` after the request). Here the gate keeps one timer armed for
the earliest deadline still to come. A stage that advances leaves it running, and the next stage, whose deadline
is later, waits on that same timer: a stage that advances in time writes no timer event at all.

When the timer fires, every stage whose deadline it reached times out, and a stage still waiting with a later
deadline arms it again for that one. So each stage keeps its exact deadline. Re-arming after a fire costs
TIMER_FIRED, a workflow task and TIMER_STARTED (5 events), more than the 2 a stage of its own would have cost, so
a stage does not keep an earlier stage's timer that is likely to fire while it waits: when the armed timer is due
sooner than twice the time the run's last wait took, the stage replaces it up front (TIMER_CANCELED +
TIMER_STARTED, as before v12). Stages that take most of their timeout therefore cost what they did; stages that
advance well within it cost nothing. A stage with a SHORTER deadline than the armed one replaces it too. A timer
still armed when the run ends is dropped with the run; one that fires while no stage waits wakes the run once
and is not armed again until a stage waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

# Temporal refuses a timer of 0; a deadline that is (almost) here still gets the smallest one.
_SHORTEST_SECONDS = 0.001
# An earlier stage's timer due sooner than this many times the last wait's length is replaced, not kept.
KEEP_WHEN_DUE_AFTER_WAITS = 2


class DeadlineTimer:
    """Waits that end at a deadline, all sharing one armed timer. Workflow code only; state is rebuilt by replay."""

    def __init__(self) -> None:
        self._timer: asyncio.Task[None] | None = None
        self._fires_at: datetime | None = None
        # The latest deadline a timer fired for: every wait whose deadline is at or before it has timed out.
        self._reached: datetime | None = None
        self._waiting: list[datetime] = []
        # How long the last wait that ended by its condition took: what the next one is likely to take.
        self._last_wait: timedelta | None = None

    async def wait(self, condition: Callable[[], bool], deadline: datetime, summary: str) -> None:
        """Return once `condition()` holds; raise `builtins.TimeoutError` if `deadline` comes first.

        `summary` names the timer for operators when this wait is the one that arms it.
        """
        started = workflow.now()
        self._waiting.append(deadline)
        try:
            while not condition():
                if self._due(deadline):
                    raise TimeoutError
                await workflow.wait_condition(_until(condition, self._arm(summary)))
        finally:
            self._waiting.remove(deadline)
        self._last_wait = workflow.now() - started

    def _due(self, deadline: datetime) -> bool:
        return workflow.now() >= deadline or (self._reached is not None and deadline <= self._reached)

    def _arm(self, summary: str) -> asyncio.Task[None]:
        """The timer for the earliest deadline still to come: the armed one if it fires by then, else a new one."""
        earliest = min(d for d in self._waiting if not self._due(d))
        timer, fires_at = self._timer, self._fires_at
        if timer is not None and not timer.done() and fires_at is not None:
            if fires_at == earliest or (fires_at < earliest and not self._likely_to_fire_first(fires_at)):
                return timer
            # A shorter deadline than the armed one, or an earlier stage's timer that would fire while this waits.
            timer.cancel()
        seconds = max((earliest - workflow.now()).total_seconds(), _SHORTEST_SECONDS)
        self._fires_at = earliest
        self._timer = asyncio.create_task(self._sleep(seconds, earliest, summary))
        return self._timer

    def _likely_to_fire_first(self, fires_at: datetime) -> bool:
        """The armed timer is due before the waits can be expected to end (judged by the last wait's length)."""
        if self._last_wait is None:
            return False
        return fires_at - workflow.now() < self._last_wait * KEEP_WHEN_DUE_AFTER_WAITS

    async def _sleep(self, seconds: float, deadline: datetime, summary: str) -> None:
        await workflow.sleep(seconds, summary=summary)
        if self._reached is None or deadline > self._reached:
            self._reached = deadline


def _until(condition: Callable[[], bool], timer: asyncio.Task[None]) -> Callable[[], bool]:
    """The condition, or the timer done (fired, or replaced by one for a shorter deadline)."""
    return lambda: condition() or timer.done()
