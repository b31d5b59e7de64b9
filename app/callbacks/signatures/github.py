"""GitHub webhook signatures: `X-Hub-Signature-256: sha256=<hex>`.

HMAC-SHA256 over the exact body, lower-case hex, the webhook's secret as UTF-8. GitHub signs no timestamp and
no ID (`X-GitHub-Delivery` is unsigned), so a replay is only caught by the event-ID dedupe downstream; the
tolerance does not apply. The old SHA-1 header `X-Hub-Signature` is not read. Checked against the example
GitHub's documentation publishes ("Validating webhook deliveries").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from app.callbacks.signatures.hmac_parts import any_match, header, lower_hex, utf8_key
from app.callbacks.signatures.types import SignatureScheme, SignedBody
from app.errors import MalformedBodySignatureError

NAME = "github"
HEADER = "x-hub-signature-256"
PREFIX = "sha256="


def check(headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int) -> SignedBody:
    """Verify `X-Hub-Signature-256` against the exact body: 401 missing, 400 malformed, 403 wrong."""
    del now, tolerance  # nothing signed to be fresh
    value = header(headers, HEADER)
    if not value.startswith(PREFIX):
        raise MalformedBodySignatureError(f"header {HEADER!r} must look like '{PREFIX}<hex>'")
    given = lower_hex(value[len(PREFIX) :], hashlib.sha256().digest_size, f"header {HEADER!r}")
    any_match([given], [hmac.new(key, body, hashlib.sha256).digest() for key in secrets], f"{HEADER!r}")
    return SignedBody()


SCHEME = SignatureScheme(NAME, (HEADER,), utf8_key, check)
