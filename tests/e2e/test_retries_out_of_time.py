"""Finding 2: a stage whose request ran out of the stage's time WHILE RETRYING reconciles, in every mode.

Temporal then fails the activity with the last attempt's own error (here the service's, "answer lost") and
retry state TIMEOUT, not a TimeoutError; until v5 the gate only reconciled on a TimeoutError, so such a stage
failed although the service had done the work.
"""

from __future__ import annotations

import pytest
from temporalio.client import Client

from app.demo.payloads import ServiceFaults, StagedRunInput
from app.gate.types import AdvancedBy, Mode, Outcome
from app.starter import start_staged_run
from tests.stack import Stack, wait_end

# The first attempt fails at once; its retry (1 s later) would not fit in the stage's time, so Temporal gives
# up right away, BEFORE the deadline, and the callback comes later. Signal/update mode: the gate waits for it
# until the deadline (it goes to attempt 1's URL, still valid). Token mode: it goes to the failed attempt's
# task token and is refused, so the service's record (reconcile at the deadline) is what advances the stage.
_EXPECTED = {Mode.SIGNAL: AdvancedBy.SIGNAL, Mode.UPDATE: AdvancedBy.UPDATE, Mode.TOKEN: AdvancedBy.RECONCILE}


@pytest.mark.parametrize("mode", list(Mode))
async def test_request_retries_that_run_out_of_time_reconcile(client: Client, stack: Stack, mode: Mode) -> None:
    inp = StagedRunInput(
        mode=mode,
        stages=1,
        time_to_request=0.05,
        time_to_callback=0.4,
        stage_timeout_seconds=0.9,
        faults=ServiceFaults(lose_request_answers=True),
    )
    end = await wait_end(await start_staged_run(client, stack.settings.task_queue, inp))
    assert end.result is not None, end
    [stage] = end.result.stages
    assert (stage.outcome, stage.advanced_by) == (Outcome.COMPLETED, _EXPECTED[mode])
