"""The callback server's body-signature step: a URL that names a sender demands that sender's body signature."""

from __future__ import annotations

import time
from collections.abc import Iterable

from app.callbacks.forwarding import CallbackError
from app.callbacks.signatures.standard_webhooks import BodySignatureError, SignedBody, verify
from app.gate.callback_urls import CallbackTarget
from app.runtime.config import Settings

_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def signature_headers_of(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The three Standard Webhooks headers from an ASGI header list; a repeated one is refused, not picked."""
    found: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name not in _HEADERS:
            continue
        if name in found:
            raise CallbackError(400, "malformed_body_signature", f"header {name!r} is repeated")
        found[name] = raw_value.decode("latin-1")
    return found


def check_body_signature(
    settings: Settings, target: CallbackTarget, raw_headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> SignedBody | None:
    """None when the URL names no sender; else the verified `webhook-id` (or the CallbackError to answer)."""
    if target.sender is None:
        return None
    keys = settings.callback_webhook_senders.get(target.sender)
    if not keys:
        # Our own signed URL names a sender this server has no keys for: a configuration gap, not the sender's.
        raise CallbackError(
            403, "unknown_sender", f"the callback URL names sender {target.sender!r}, which has no keys configured"
        )
    try:
        return verify(
            signature_headers_of(raw_headers),
            body,
            keys,
            now=time.time(),
            tolerance_seconds=settings.callback_webhook_tolerance_seconds,
        )
    except BodySignatureError as err:
        raise CallbackError(err.status_code, err.code, err.message) from err
