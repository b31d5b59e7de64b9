"""Long runs continue-as-new, carrying stage state and seen callback IDs, so duplicates stay ignored."""

from __future__ import annotations

from temporalio.client import Client

from app.demo.payloads import Action, RunResult, ServiceFaults, StagedRunInput
from app.gate.types import Mode, Outcome, WaitingFor
from app.starter import start_staged_run
from tests.stack import Stack, wait_end, wait_status


async def test_continue_as_new_keeps_state_and_dedupe(client: Client, stack: Stack) -> None:
    inp = StagedRunInput(
        mode=Mode.SIGNAL,
        stages=5,
        time_to_request=0.05,
        time_to_callback=0.2,
        continue_as_new_after_stages=2,
        faults=ServiceFaults(duplicate_deliveries=1),
    )
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    end = await wait_end(handle, timeout=90)
    assert end.result is not None, end
    # 5 stages, a new run after every 2: runs 1 (stages 1-2), 2 (3-4), 3 (5).
    assert end.result.runs == 3
    assert [s.stage for s in end.result.stages] == [1, 2, 3, 4, 5]
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 5
    # Each callback came twice; every second copy was ignored, including across run boundaries.
    assert end.result.duplicates_ignored >= 4
    runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 3


async def test_duplicates_and_early_signals_survive_continue_as_new(client: Client, stack: Stack) -> None:
    """Early callbacks and seen callback IDs travel through four continue-as-new hops; repeats change nothing.

    The repeats are sent while the run still waits (at stage 4, in its 4th run), and their effect is read
    from the final result: a carried callback ID that got lost would count stage 5's progress twice.
    """
    inp = StagedRunInput(
        mode=Mode.SIGNAL, stages=5, actions=[Action.IGNORE], stage_timeout_seconds=60, continue_as_new_after_stages=1
    )
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    # Stage 5's result and a progress report arrive first (kept across every hop), then stages 1..3.
    await handle.signal("advance_stage", {"stage": 5, "callback_id": "cb-5", "result": {"early": True}})
    await handle.signal("advance_stage", {"stage": 5, "status": "progress", "callback_id": "p-5"})
    for stage in (1, 2, 3):
        await handle.signal("advance_stage", {"stage": stage, "callback_id": f"cb-{stage}"})
    latest = client.get_workflow_handle(handle.id, result_type=RunResult)
    await wait_status(latest, lambda s: s.current_stage == 4 and s.runs == 4 and s.waiting_for is WaitingFor.CALLBACK)
    # While the 4th run waits: a stale stage, a rewritten repeat of stage 5's callback, a repeated progress report.
    await latest.signal("advance_stage", {"stage": 2, "callback_id": "cb-2"})
    await latest.signal("advance_stage", {"stage": 5, "callback_id": "cb-5", "result": {"early": False}})
    await latest.signal("advance_stage", {"stage": 5, "status": "progress", "callback_id": "p-5"})
    await wait_status(latest, lambda s: s.duplicates_ignored == 3)
    await latest.signal("advance_stage", {"stage": 4, "callback_id": "cb-4"})
    end = await wait_end(latest, timeout=60)
    assert end.result is not None, end
    assert end.result.runs == 5
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 5
    assert end.result.stages[4].result == {"early": True}
    assert end.result.stages[4].progress == 1
    assert end.result.duplicates_ignored == 3
