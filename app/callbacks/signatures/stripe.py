"""Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`.

HMAC-SHA256 over the exact bytes `t.body`, lower-case hex; the key is the endpoint's whole `whsec_...` secret
string as UTF-8 (Stripe does not decode it). During a secret roll Stripe sends one `v1` per active secret; any
configured key may match any of them. Entries of other schemes (`v0` test signatures) are ignored, never matched.
Checked against Stripe's own `stripe.WebhookSignature` in tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from app.callbacks.signatures.hmac_parts import MAX_SIGNATURES, any_match, fresh, header, lower_hex, timestamp
from app.callbacks.signatures.types import SignatureScheme, SignedBody
from app.errors import MalformedBodySignatureError

NAME = "stripe"
HEADER = "stripe-signature"
KEY_PREFIX = "whsec_"


def parse_key(text: str) -> bytes:
    """A Stripe endpoint secret (`whsec_...`), used as its UTF-8 text."""
    if not text.startswith(KEY_PREFIX) or len(text) == len(KEY_PREFIX) or text.strip() != text:
        raise ValueError(f"a Stripe endpoint secret starts with {KEY_PREFIX!r}")
    return text.encode("utf-8")


def _parse(value: str) -> tuple[str, list[bytes]]:
    """The one `t` (as sent) and every `v1` signature of the header."""
    entries = value.split(",")
    if len(entries) > MAX_SIGNATURES + 1:
        raise MalformedBodySignatureError(f"header {HEADER!r} holds more than {MAX_SIGNATURES} signatures")
    stamps: list[str] = []
    signatures: list[bytes] = []
    for entry in entries:
        key, sep, text = entry.partition("=")
        if not sep:
            raise MalformedBodySignatureError(f"header {HEADER!r} entries must look like 'key=value'")
        if key == "t":
            stamps.append(text)
        elif key == "v1":
            signatures.append(lower_hex(text, hashlib.sha256().digest_size, "a 'v1' signature"))
    if len(stamps) != 1:
        raise MalformedBodySignatureError(f"header {HEADER!r} must hold exactly one 't='")
    return stamps[0], signatures


def check(headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int) -> SignedBody:
    """Verify `Stripe-Signature` against the exact body: 401 missing, 400 malformed, 403 wrong or stale."""
    stamp_text, signatures = _parse(header(headers, HEADER))
    signed_at = timestamp(stamp_text, f"the 't' of header {HEADER!r}")
    signed = stamp_text.encode("ascii") + b"." + body
    any_match(signatures, [hmac.new(key, signed, hashlib.sha256).digest() for key in secrets], "'v1' signature")
    fresh(signed_at, now, tolerance, f"the 't' of header {HEADER!r}")
    return SignedBody(timestamp=signed_at)


SCHEME = SignatureScheme(NAME, (HEADER,), parse_key, check)
