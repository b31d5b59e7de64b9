"""Hand-over slots between the gate and its interceptor: the ticket of the stage activity being scheduled.

Its own tiny module so that the workflow sandbox passes it through (see `app.gate.stage_gate`): the gate, even when a
user's workflow file re-imports it inside the sandbox, and the worker's interceptor then share ONE slot.
"""

from __future__ import annotations

from contextvars import ContextVar

from app.gate.ticket import StageTicket

# Set by `StageGate` around the (synchronous) scheduling of a stage activity; read by the outbound interceptor.
PENDING_TICKET: ContextVar[StageTicket | None] = ContextVar("stagegate_pending_ticket", default=None)
