"""Standard Webhooks body signatures: sign and verify `webhook-id`, `webhook-timestamp`, `webhook-signature`.

HMAC-SHA256 over the exact bytes `id.timestamp.body`, base64, `v1,` prefix; keys are `whsec_` + base64; the
signature header may carry several space-separated signatures (key rotation) and any configured key may match.
Checked against the specification's published test vector and the reference `standardwebhooks` package.

Stricter than the reference verifier on purpose: only canonical forms verify (a timestamp of plain ASCII
digits, base64 that re-encodes to itself), the signed string is built from the header bytes as sent (never a
re-parsed timestamp), and every malformed header is a `BodySignatureError`, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from app.callbacks.signatures.types import SignatureScheme, SignedBody
from app.errors import BodySignatureError, MalformedBodySignatureError, MissingBodySignatureError
from app.runtime.config import DEFAULT_WEBHOOK_TOLERANCE_SECONDS

NAME = "standard-webhooks"
# The headers this scheme reads (lower-case).
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
KEY_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
# Bounds on what a sender can make us parse: more signatures than any rotation needs is an attack.
MAX_SIGNATURES = 10
MAX_WEBHOOK_ID_CHARS = 255  # it becomes the callback ID, which has this limit too
MAX_TIMESTAMP_DIGITS = 12


def _canonical_b64decode(text: str) -> bytes | None:
    """Standard base64 with padding, accepted only when it re-encodes to exactly the same text."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def parse_key(text: str) -> bytes:
    """A `whsec_<base64>` key as its secret bytes; ValueError for anything else (used on configuration)."""
    if not text.startswith(KEY_PREFIX):
        raise ValueError(f"a webhook key must start with {KEY_PREFIX!r}")
    body = text[len(KEY_PREFIX) :]
    # Keys are often written without padding; accept that, but nothing outside the base64 alphabet.
    secret = _canonical_b64decode(body + "=" * (-len(body) % 4))
    if not secret:
        raise ValueError("a webhook key must be whsec_ followed by non-empty base64")
    return secret


def _mac(secret: bytes, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret, b"%s.%s.%s" % (webhook_id.encode(), timestamp.encode(), body), hashlib.sha256).digest()


def sign(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    return f"{SIGNATURE_VERSION},{base64.b64encode(_mac(secret, webhook_id, str(timestamp), body)).decode()}"


def signature_headers(secrets: Sequence[bytes], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a sender adds, one signature per key (all of them during a rotation)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise MissingBodySignatureError(f"header {name!r} is missing")
    return value


def _webhook_id(value: str) -> str:
    if len(value) > MAX_WEBHOOK_ID_CHARS or not all("!" <= ch <= "~" for ch in value):
        raise MalformedBodySignatureError(
            f"header 'webhook-id' must be 1 to {MAX_WEBHOOK_ID_CHARS} printable ASCII characters without spaces",
        )
    return value


def _timestamp(value: str) -> int:
    canonical = value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0"))
    if not canonical or len(value) > MAX_TIMESTAMP_DIGITS:
        raise MalformedBodySignatureError("header 'webhook-timestamp' must be Unix seconds as plain decimal digits")
    return int(value)


def _signatures(value: str) -> list[bytes]:
    entries = value.split(" ")
    if len(entries) > MAX_SIGNATURES:
        raise MalformedBodySignatureError(f"header 'webhook-signature' holds more than {MAX_SIGNATURES} signatures")
    found: list[bytes] = []
    for entry in entries:
        version, sep, encoded = entry.partition(",")
        if not sep:
            raise MalformedBodySignatureError("header 'webhook-signature' entries must look like 'v1,<base64>'")
        if version != SIGNATURE_VERSION:
            continue  # another scheme (e.g. v1a): not ours to check, and not a match either
        raw = _canonical_b64decode(encoded)
        if raw is None or len(raw) != hashlib.sha256().digest_size:
            raise MalformedBodySignatureError("a 'v1' signature must be canonical base64 of 32 bytes")
        found.append(raw)
    return found


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
) -> SignedBody:
    """Check the three headers (lower-case names) against the exact body bytes; any key may match.

    Raises BodySignatureError: missing headers (401), malformed ones (400), no matching signature or a
    timestamp outside `now ± tolerance_seconds` (403). The timestamp is checked after the signature, so
    a stale answer is only ever given for a body that was really signed.
    """
    webhook_id = _webhook_id(_header(headers, "webhook-id"))
    timestamp_text = _header(headers, "webhook-timestamp")
    timestamp = _timestamp(timestamp_text)
    signatures = _signatures(_header(headers, "webhook-signature"))
    expected = [_mac(secret, webhook_id, timestamp_text, body) for secret in secrets]
    # Every pair is compared (no early exit), each in constant time.
    matched = False
    for given in signatures:
        for wanted in expected:
            matched |= hmac.compare_digest(given, wanted)
    if not matched:
        raise BodySignatureError("no 'webhook-signature' matches the body with a configured key")
    if abs(now - timestamp) > tolerance_seconds:
        raise BodySignatureError(
            f"'webhook-timestamp' is {int(now - timestamp)} s from now; at most {tolerance_seconds} s either way",
            code="stale_body_signature",
        )
    return SignedBody(webhook_id=webhook_id, timestamp=timestamp)


def check(headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int) -> SignedBody:
    """`verify` in the registry's positional shape."""
    return verify(headers, body, secrets, now=now, tolerance_seconds=tolerance)


SCHEME = SignatureScheme(NAME, HEADERS, parse_key, check)
