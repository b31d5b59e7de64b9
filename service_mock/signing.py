"""Standard Webhooks body signatures for the callbacks the mock sends, made with the reference package.

Signing with `standardwebhooks` (not with the callback server's own code) means every signed test delivery
also checks that our verifier accepts what the reference implementation produces.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

KEY_PREFIX = "whsec_"


def check_key(text: str) -> str:
    """The key itself when it is `whsec_` + non-empty base64; ValueError otherwise."""
    body = text.removeprefix(KEY_PREFIX)
    if body == text or not body:
        raise ValueError(f"a webhook key must be {KEY_PREFIX} followed by base64")
    try:
        base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"a webhook key must be {KEY_PREFIX} followed by base64") from exc
    return text


class BodySigner:
    """Adds `webhook-id`, `webhook-timestamp` and one `webhook-signature` per key (all of them mid-rotation)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a body signer needs at least one key")
        self._hooks = [Webhook(check_key(key)) for key in keys]

    def headers(self, webhook_id: str, body: bytes, *, now: datetime) -> dict[str, str]:
        """Fresh headers for one attempt: same id on every retry, a new timestamp and signature each time."""
        data = body.decode("utf-8")
        signatures = " ".join(hook.sign(msg_id=webhook_id, timestamp=now, data=data) for hook in self._hooks)
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures,
        }
