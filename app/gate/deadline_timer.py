"""One timer for all of a run's stage deadlines (gate v12, patch `stagegate-shared-deadline-timer`).

Before v12 every signal/update stage started a timer for its deadline and cancelled it when its callback came:
TIMER_STARTED + TIMER_CANCELED, two of a stage's ~12 history events (and every token stage did the same for its
hand-off check, whose "deadline" is `handoff_check` after the request). Here the gate keeps one timer armed for
the earliest deadline still to come. A stage that advances leaves it running, and the next stage, whose deadline
is later, waits on that same timer: a stage that advances in time writes no timer event at all.

When the timer fires, every stage whose deadline it reached times out, and a stage still waiting with a later
deadline arms it again for that one. So each stage keeps its exact deadline; the price is paid once per
deadline-length of waiting instead of once per stage: TIMER_FIRED, a workflow task and TIMER_STARTED (5 events)
whenever the timer armed by an earlier stage comes due while a later one waits. Runs whose stages take most of
their timeout each pay more than before (5 events instead of 2 per stage); runs with several stages per timeout
pay less. A stage with a SHORTER deadline than the armed one replaces it (TIMER_CANCELED + TIMER_STARTED, as
before). A timer still armed when the run ends is dropped with the run; one that fires while no stage waits
wakes the run once and is not armed again until a stage waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

# Temporal refuses a timer of 0; a deadline that is (almost) here still gets the smallest one.
_SHORTEST_SECONDS = 0.001


class DeadlineTimer:
    """Waits that end at a deadline, all sharing one armed timer. Workflow code only; state is rebuilt by replay."""

    def __init__(self) -> None:
        self._timer: asyncio.Task[None] | None = None
        self._fires_at: datetime | None = None
        # The latest deadline a timer fired for: every wait whose deadline is at or before it has timed out.
        self._reached: datetime | None = None
        self._waiting: list[datetime] = []

    async def wait(self, condition: Callable[[], bool], deadline: datetime, summary: str) -> None:
        """Return once `condition()` holds; raise `builtins.TimeoutError` if `deadline` comes first.

        `summary` names the timer for operators when this wait is the one that arms it.
        """
        self._waiting.append(deadline)
        try:
            while not condition():
                if self._due(deadline):
                    raise TimeoutError
                await workflow.wait_condition(_until(condition, self._arm(summary)))
        finally:
            self._waiting.remove(deadline)

    def _due(self, deadline: datetime) -> bool:
        return workflow.now() >= deadline or (self._reached is not None and deadline <= self._reached)

    def _arm(self, summary: str) -> asyncio.Task[None]:
        """The timer for the earliest deadline still to come: the armed one if it fires by then, else a new one."""
        earliest = min(d for d in self._waiting if not self._due(d))
        timer, fires_at = self._timer, self._fires_at
        if timer is not None and not timer.done() and fires_at is not None:
            if fires_at <= earliest:
                return timer
            timer.cancel()  # a stage with a shorter deadline: it cannot wait for the armed one
        seconds = max((earliest - workflow.now()).total_seconds(), _SHORTEST_SECONDS)
        self._fires_at = earliest
        self._timer = asyncio.create_task(self._sleep(seconds, earliest, summary))
        return self._timer

    async def _sleep(self, seconds: float, deadline: datetime, summary: str) -> None:
        await workflow.sleep(seconds, summary=summary)
        if self._reached is None or deadline > self._reached:
            self._reached = deadline


def _until(condition: Callable[[], bool], timer: asyncio.Task[None]) -> Callable[[], bool]:
    """The condition, or the timer done (fired, or replaced by one for a shorter deadline)."""
    return lambda: condition() or timer.done()
