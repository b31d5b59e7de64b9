"""What every signature scheme returns for a body it verified."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignedBody:
    """A verified body: its event ID (the dedupe key) and the timestamp it was signed at."""

    webhook_id: str
    timestamp: int
