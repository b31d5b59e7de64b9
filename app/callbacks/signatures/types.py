"""What every signature scheme is, and what it returns for a body it verified."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SignedBody:
    """A verified body: its signed event ID (the dedupe key) and signing time, when the scheme signs them.

    Standard Webhooks signs both; Stripe and Slack sign a timestamp but no ID (the event ID is in the body);
    GitHub signs neither (its `X-GitHub-Delivery` header is not signed, so it is never trusted as a dedupe key).
    """

    webhook_id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True)
class SignatureScheme:
    """How one provider signs request bodies."""

    name: str
    # The (lower-case) headers it reads; a repeated one is refused, never picked.
    headers: tuple[str, ...]
    # A configured key's text -> its secret bytes; ValueError when the text is not such a key.
    parse_key: Callable[[str], bytes]
    # (headers, exact body, keys, now, tolerance seconds) -> the verified body, or a BodySignatureError.
    verify: Callable[[Mapping[str, str], bytes, Sequence[bytes], float, int], SignedBody]
