"""What the callback server needs to know of a mode: its route, its answer, how it reaches Temporal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.callbacks.forwarding import Forwarded, Temporal
from app.callbacks.wire import CallbackBody
from app.gate.callback_urls import CallbackTarget, callback_path
from app.gate.types import Mode


class Forward(Protocol):
    """Hands one verified callback to Temporal the mode's way."""

    async def __call__(
        self, temporal: Temporal, target: CallbackTarget, body: CallbackBody, *, received_at: str
    ) -> Forwarded: ...


@dataclass(frozen=True)
class ModeSpec:
    """A mode as the callback server sees it."""

    mode: Mode
    summary: str
    forward: Forward
    # 202 "taken, the workflow will act on it"; 200 where the answer carries the workflow's own verdict.
    accepted_status: int = 202
    # Its callback URLs carry the activity's task token (the `token` query parameter).
    carries_token: bool = False

    @property
    def path(self) -> str:
        """The route its callback URLs point at."""
        return callback_path(self.mode)
