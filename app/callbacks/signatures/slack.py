"""Slack request signatures: `X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<body>`.

HMAC-SHA256, lower-case hex, the app's signing secret as UTF-8; the timestamp is `X-Slack-Request-Timestamp`,
and the signed string uses it exactly as sent. Checked against `slack_sdk.signature.SignatureVerifier` in tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from app.callbacks.signatures.hmac_parts import any_match, fresh, header, lower_hex, timestamp, utf8_key
from app.callbacks.signatures.types import SignatureScheme, SignedBody
from app.errors import MalformedBodySignatureError

NAME = "slack"
SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
VERSION = "v0"


def check(headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int) -> SignedBody:
    """Verify the two Slack headers against the exact body: 401 missing, 400 malformed, 403 wrong or stale."""
    value = header(headers, SIGNATURE_HEADER)
    stamp_text = header(headers, TIMESTAMP_HEADER)
    signed_at = timestamp(stamp_text, f"header {TIMESTAMP_HEADER!r}")
    if not value.startswith(f"{VERSION}="):
        raise MalformedBodySignatureError(f"header {SIGNATURE_HEADER!r} must look like '{VERSION}=<hex>'")
    given = lower_hex(value[len(VERSION) + 1 :], hashlib.sha256().digest_size, f"header {SIGNATURE_HEADER!r}")
    signed = b"%s:%s:%s" % (VERSION.encode(), stamp_text.encode("ascii"), body)
    any_match([given], [hmac.new(key, signed, hashlib.sha256).digest() for key in secrets], f"{SIGNATURE_HEADER!r}")
    fresh(signed_at, now, tolerance, f"header {TIMESTAMP_HEADER!r}")
    return SignedBody(timestamp=signed_at)


SCHEME = SignatureScheme(NAME, (SIGNATURE_HEADER, TIMESTAMP_HEADER), utf8_key, check)
