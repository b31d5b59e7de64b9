"""Signed callback URLs for the callback-server tests: a target with test defaults, and its path and query."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import Settings


def callback_target(mode: Mode, workflow_id: str, **kw: object) -> CallbackTarget:
    """Stage 1, attempt 1, valid for 5 minutes (token mode: a made-up task token), unless `kw` says otherwise."""
    fields: dict[str, object] = {
        "mode": mode,
        "workflow_id": workflow_id,
        "stage": 1,
        "attempt": 1,
        "expires_at": int(time.time()) + 300,
        "task_token": b"\x01\x02not-a-real-token" if mode is Mode.TOKEN else None,
    }
    fields.update(kw)
    return CallbackTarget(**fields)  # type: ignore[arg-type]


def signed_path(settings: Settings, target: CallbackTarget, *, secret: str | None = None) -> str:
    """The path and query of `target`'s URL, signed with `secret` (default: the settings' first secret)."""
    parts = urlsplit(build_callback_url("http://test", secret or settings.signing_secrets[0], target))
    return f"{parts.path}?{parts.query}"
