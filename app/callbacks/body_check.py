"""The callback server's body-signature step: a URL that names a sender demands that sender's body signature."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.callbacks.signatures.registry import DEFAULT_SCHEME, SignatureScheme, parse_keys, scheme
from app.callbacks.signatures.types import SignedBody
from app.errors import ForbiddenCallbackError, MalformedBodySignatureError
from app.gate.callback_urls import CallbackTarget
from app.runtime.config import Settings


def signature_headers_of(raw_headers: Iterable[tuple[bytes, bytes]], wanted: tuple[str, ...]) -> dict[str, str]:
    """The scheme's headers from an ASGI header list; a repeated one is refused, not picked."""
    found: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name not in wanted:
            continue
        if name in found:
            raise MalformedBodySignatureError(f"header {name!r} is repeated")
        found[name] = raw_value.decode("latin-1")
    return found


@dataclass(frozen=True)
class BodyCheck:
    """The senders whose callback URLs demand a body signature: their scheme, parsed keys and time window."""

    scheme: SignatureScheme
    sender_keys: Mapping[str, tuple[bytes, ...]] = field(repr=False)
    tolerance_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyCheck:
        """Parse the configured keys once, at start-up: a bad key stops the server with a SettingsError."""
        keys = parse_keys(settings.callback_webhook_senders, setting="CALLBACK_WEBHOOK_SENDERS")
        return cls(scheme(DEFAULT_SCHEME), keys, settings.callback_webhook_tolerance_seconds)


def check_body_signature(
    check: BodyCheck, target: CallbackTarget, raw_headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> SignedBody | None:
    """None when the URL names no sender; else the verified body (or the refusal to answer)."""
    if target.sender is None:
        return None
    keys = check.sender_keys.get(target.sender)
    if not keys:
        # Our own signed URL names a sender this server has no keys for: a configuration gap, not the sender's.
        raise ForbiddenCallbackError(
            f"the callback URL names sender {target.sender!r}, which has no keys configured", code="unknown_sender"
        )
    headers = signature_headers_of(raw_headers, check.scheme.headers)
    return check.scheme.verify(headers, body, keys, time.time(), check.tolerance_seconds)
