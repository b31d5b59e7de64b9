"""The run's one deadline timer (gate v12): every stage still ends at its own deadline, and stages that advance in
time write no timer events. Real dev server, in-process worker with the gate's interceptor; callbacks by signal.

Each test's timeouts are a few seconds: these waits are real time (the dev server does not skip time).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from app.gate.stage_activity import StageGateInterceptor
from app.gate.types import QUERY_GATE_STATUS, SIGNAL_ADVANCE_STAGE, GateStatus, WaitingFor
from app.runtime.config import Settings
from app.worker import callback_signer
from tests.gate.deadline_workflow import DeadlineInput, DeadlineResult, DeadlineWorkflow, TimedStage, request

RUN_TIMEOUT = 60.0
WAIT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Rig:
    """What a test uses: the client and the worker's task queue."""

    client: Client
    task_queue: str


@pytest.fixture
async def rig(client: Client, settings: Settings) -> AsyncIterator[Rig]:
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[DeadlineWorkflow],
        activities=[request],
        interceptors=[StageGateInterceptor(callback_signer(settings))],
        max_cached_workflows=0,  # every workflow task replays the history: determinism is checked too
    )
    async with worker:
        yield Rig(client=client, task_queue=settings.task_queue)


async def _start(rig: Rig, *stages: TimedStage) -> WorkflowHandle[DeadlineWorkflow, DeadlineResult]:
    return await rig.client.start_workflow(
        DeadlineWorkflow.run,
        DeadlineInput(stages=list(stages)),
        id=f"deadline-{uuid.uuid4().hex[:8]}",
        task_queue=rig.task_queue,
    )


async def _waiting_for_callback(handle: WorkflowHandle[DeadlineWorkflow, DeadlineResult], stage: str) -> None:
    """Until the run waits for `stage`'s callback (its request done)."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        status = await handle.query(QUERY_GATE_STATUS, result_type=GateStatus)
        if status.current_stage == stage and status.waiting_for is WaitingFor.CALLBACK:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never waited for the callback of {stage!r}")


async def _timer_events(handle: WorkflowHandle[DeadlineWorkflow, DeadlineResult]) -> Counter[str]:
    history = await handle.fetch_history()
    return Counter(
        EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        for e in history.events
        if EventType.Name(e.event_type).startswith("EVENT_TYPE_TIMER_")
    )


async def test_stages_that_advance_in_time_share_one_timer(rig: Rig) -> None:
    handle = await _start(rig, *(TimedStage(name, 60) for name in ("a", "b", "c")))
    for name in ("a", "b", "c"):
        await _waiting_for_callback(handle, name)
        await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": name})
    result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    assert result.outcomes == ["completed"] * 3
    # One timer for the three deadlines, never cancelled (before v12: three started, three cancelled).
    assert await _timer_events(handle) == Counter({"TIMER_STARTED": 1})


async def test_a_later_deadline_outlives_the_timer_an_earlier_stage_armed(rig: Rig) -> None:
    """Stage a (6 s) advances at once; b (15 s) is called back after a's deadline: b waits on and completes.

    a's wait was short, so b keeps the timer a armed (due in ~6 s, far more than twice that wait)."""
    handle = await _start(rig, TimedStage("a", 6), TimedStage("b", 15))
    await _waiting_for_callback(handle, "a")
    await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "a"})
    await _waiting_for_callback(handle, "b")
    started = time.monotonic()
    # Past a's deadline: the timer a armed fires while b waits, and b arms it again for its own.
    while (await _timer_events(handle))["TIMER_FIRED"] < 1:
        assert time.monotonic() - started < WAIT_TIMEOUT, "the timer armed for stage a never fired"
        await asyncio.sleep(0.2)
    await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "b"})
    result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    assert result.outcomes == ["completed", "completed"]
    assert await _timer_events(handle) == Counter({"TIMER_STARTED": 2, "TIMER_FIRED": 1})


async def test_an_earlier_stages_timer_due_soon_is_replaced_up_front(rig: Rig) -> None:
    """Stage a (8 s) is called back after 3 s; b (60 s) starts with a's timer due in under 5 s, sooner than twice
    a's wait: b replaces it at once (cancelled + started, as a timer of its own would) rather than let it fire."""
    handle = await _start(rig, TimedStage("a", 8), TimedStage("b", 60))
    await _waiting_for_callback(handle, "a")
    await asyncio.sleep(3)
    await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "a"})
    await _waiting_for_callback(handle, "b")
    await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "b"})
    result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    assert result.outcomes == ["completed", "completed"]
    assert await _timer_events(handle) == Counter({"TIMER_STARTED": 2, "TIMER_CANCELED": 1})


async def test_a_shorter_deadline_replaces_the_armed_timer(rig: Rig) -> None:
    """Stage a (60 s) advances at once; b (2 s) gets no callback: b times out after ~2 s, not at a's deadline."""
    handle = await _start(rig, TimedStage("a", 60), TimedStage("b", 2))
    await _waiting_for_callback(handle, "a")
    await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": "a"})
    result = await asyncio.wait_for(handle.result(), WAIT_TIMEOUT)  # well before a's 60 s deadline
    assert result.outcomes == ["completed", "timed_out"]
    assert await _timer_events(handle) == Counter({"TIMER_STARTED": 2, "TIMER_CANCELED": 1, "TIMER_FIRED": 1})


async def test_a_stage_times_out_at_its_own_deadline_on_the_shared_timer(rig: Rig) -> None:
    """a (2 s) and b (60 s) advance at once; c (3 s) gets no callback. The timer a armed fires while b or c waits,
    is armed again, and c times out at its own deadline."""
    handle = await _start(rig, TimedStage("a", 2), TimedStage("b", 60), TimedStage("c", 3))
    for name in ("a", "b"):
        await _waiting_for_callback(handle, name)
        await handle.signal(SIGNAL_ADVANCE_STAGE, {"stage": name})
    result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    assert result.outcomes == ["completed", "completed", "timed_out"]
