"""A payment whose first request is made and then never handed off: what a worker SIGKILLed right after the vendor
answered leaves behind (`tests/vendors/test_hook_handoff.py`). Outside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from tests.vendors.checkout_activities import Checkout, create_payment


@dataclass(frozen=True)
class LostHandoff:
    """The payment, the gate's hand-off check (None: off), and whether the first request's hand-off is lost."""

    checkout: Checkout
    handoff_check_seconds: float | None = 1.0
    lose_first: bool = True


@dataclass
class Requests:
    """Workflow IDs whose first request was lost, and every payment intent created, per workflow ID."""

    lost: set[str] = field(default_factory=set)
    intents: dict[str, list[str]] = field(default_factory=dict)


REQUESTS = Requests()


@activity.defn
async def create_payment_losing_the_first(inp: LostHandoff) -> dict[str, Any]:
    """Create the payment intent; the run's first one, when asked, never reaches the gate's registration.

    `raise_complete_async()` from the user's code leaves the server exactly what a SIGKILL after the vendor's
    answer does: a started token activity with no heartbeat timeout that nobody registers and nobody completes.
    """
    answer = await create_payment(inp.checkout)
    workflow_id = activity.info().workflow_id or ""
    REQUESTS.intents.setdefault(workflow_id, []).append(str(answer["id"]))
    if inp.lose_first and workflow_id not in REQUESTS.lost:
        REQUESTS.lost.add(workflow_id)
        activity.raise_complete_async()
    return answer
