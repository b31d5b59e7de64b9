"""One spec per mode: its route and how its callbacks reach Temporal. A new mode is one module plus a line here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.callbacks.forwarding import Forwarded
from app.callbacks.modes import signal as mode_signal
from app.callbacks.modes import token as mode_token
from app.callbacks.modes import update as mode_update
from app.gate.callback_urls import callback_path
from app.gate.types import Mode


@dataclass(frozen=True)
class ModeSpec:
    """A mode as the callback server sees it."""

    mode: Mode
    summary: str
    forward: Callable[..., Awaitable[Forwarded]]

    @property
    def path(self) -> str:
        """The route its callback URLs point at."""
        return callback_path(self.mode)


SPECS: dict[Mode, ModeSpec] = {
    spec.mode: spec
    for spec in (
        ModeSpec(mode_signal.MODE, mode_signal.SUMMARY, mode_signal.forward),
        ModeSpec(mode_token.MODE, mode_token.SUMMARY, mode_token.forward),
        ModeSpec(mode_update.MODE, mode_update.SUMMARY, mode_update.forward),
    )
}
