"""Long runs continue-as-new, carrying stage state and seen callback IDs, so duplicates stay ignored."""

from __future__ import annotations

from temporalio.client import Client

from app.gate_types import Mode, Outcome
from app.payloads import Action, ServiceFaults, StagedRunInput
from app.starter import start_staged_run
from tests.conftest import Stack
from tests.runs import wait_end


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
    inp = StagedRunInput(
        mode=Mode.SIGNAL, stages=4, actions=[Action.IGNORE], stage_timeout_seconds=60, continue_as_new_after_stages=1
    )
    handle = await start_staged_run(client, stack.settings.task_queue, inp)
    # Stage 4 arrives first (kept across three continue-as-new hops), then 1..3, then stale repeats.
    await handle.signal("advance_stage", {"stage": 4, "callback_id": "cb-4", "result": {"early": True}})
    for stage in (1, 2, 3):
        await handle.signal("advance_stage", {"stage": stage, "callback_id": f"cb-{stage}"})
    end = await wait_end(handle, timeout=60)
    assert end.result is not None, end
    assert end.result.runs == 4
    assert end.result.stages[3].result == {"early": True}
    latest = client.get_workflow_handle(handle.id)
    for repeat in ({"stage": 2, "callback_id": "cb-2"}, {"stage": 4}):
        try:
            await latest.signal("advance_stage", repeat)
        except Exception:  # noqa: BLE001  # the run may have closed already: that also changes nothing
            pass
    assert [s.outcome for s in end.result.stages] == [Outcome.COMPLETED] * 4
