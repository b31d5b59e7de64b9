"""Every mode the callback server serves. A new mode is one module (with its SPEC) plus a line here."""

from __future__ import annotations

from app.callbacks.modes import signal, token, update
from app.callbacks.modes.spec import ModeSpec
from app.gate.types import Mode

SPECS: dict[Mode, ModeSpec] = {spec.mode: spec for spec in (signal.SPEC, token.SPEC, update.SPEC)}
