"""A token-mode progress callback whose heartbeat Temporal answers "paused", "reset" or "cancel requested".

The SDK raises AsyncActivityCancelledError for all three; unmapped it was a 500. Paused and reset activities are
still the stage's (the callback is answered as usual); a cancelled one is a 409 `activity_cancelled`. The
paused case end to end, with `temporal activity pause`: tests/e2e/test_operator_actions.py.
"""

from __future__ import annotations

import pytest
from temporalio.activity import ActivityCancellationDetails
from temporalio.client import AsyncActivityCancelledError

from app.callbacks.forwarding import _heartbeat_taken
from app.errors import CallbackConflictError, status_of
from app.gate.callback_urls import CallbackTarget
from app.gate.types import Mode

TARGET = CallbackTarget(mode=Mode.TOKEN, workflow_id="wf", stage=2, attempt=1, expires_at=0, task_token=b"t")


@pytest.mark.parametrize(
    "details",
    [ActivityCancellationDetails(paused=True), ActivityCancellationDetails(reset=True)],
    ids=["paused", "reset"],
)
def test_paused_or_reset_activity_took_the_heartbeat(details: ActivityCancellationDetails) -> None:
    _heartbeat_taken(AsyncActivityCancelledError(details), TARGET)  # returns: the callback is answered as usual


@pytest.mark.parametrize(
    "details",
    [
        ActivityCancellationDetails(cancel_requested=True),
        ActivityCancellationDetails(cancel_requested=True, paused=True),
        None,
    ],
    ids=["cancel-requested", "cancel-requested-and-paused", "no-details"],
)
def test_cancelled_activity_is_a_409(details: ActivityCancellationDetails | None) -> None:
    with pytest.raises(CallbackConflictError) as err:
        _heartbeat_taken(AsyncActivityCancelledError(details), TARGET)
    assert err.value.code == "activity_cancelled"
    assert status_of(err.value) == 409
    assert "stage 2" in str(err.value)
