"""The ticket a stage activity carries (as a header): which stage it serves, how its callback reads, what it waits on.

Apart from `app.gate.types` so that importing the gate's values (a client starting a run does) does not load the
callback shapes, which only the worker and the callback server need.
"""

# No `from __future__ import annotations` here: the SDK resolves these dataclasses' field types (see types.py).
from dataclasses import dataclass

from app.gate.shapes import CallbackShape
from app.gate.types import Mode, StageKey


@dataclass(frozen=True)
class HookWait:
    """What a stage waits on: events of a fixed-endpoint `source` whose correlation key is its key.

    The key is given up front (`key`: e.g. from the run's input, or the stage's own ID), or read from what the
    stage activity returned (`key_path`: a dotted path, "" for the returned value itself), or named by the
    activity at run time (`report_hook_key`; pipelines use it for `${answer...}`). At most one of `key` and
    `key_path`.
    """

    source: str
    key: str | None = None
    key_path: str | None = None


@dataclass(frozen=True)
class StageTicket:
    """Sent with a stage activity (as a header): which stage it serves, in which mode, until when."""

    stage: StageKey
    mode: Mode
    deadline_epoch: float
    idempotency_key: str
    # The service's own callback body, when it does not send ours (signed into the callback URL).
    callback: CallbackShape | None = None
    # Fixed endpoint: the stage waits on a source and key (registered with the key's mailbox by the activity).
    hook: HookWait | None = None
