"""The parts the vendors' HMAC schemes share: header reads, strict hex, timestamps, an all-pairs compare.

Every malformed input is a `BodySignatureError` subclass (400/401/403 by type), never another exception.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence

from app.errors import BodySignatureError, MalformedBodySignatureError, MissingBodySignatureError

MAX_SIGNATURES = 10  # more signatures than any rotation needs is an attack
MAX_TIMESTAMP_DIGITS = 12
_HEX = frozenset("0123456789abcdef")


def header(headers: Mapping[str, str], name: str) -> str:
    """A header the scheme needs (401 when missing or empty)."""
    value = headers.get(name)
    if not value:
        raise MissingBodySignatureError(f"header {name!r} is missing")
    return value


def utf8_key(text: str) -> bytes:
    """A secret used as its UTF-8 text (Stripe, GitHub, Slack); ValueError when empty or padded with spaces."""
    if not text or text.strip() != text:
        raise ValueError("a secret must be non-empty, without surrounding spaces")
    return text.encode("utf-8")


def lower_hex(text: str, size: int, what: str) -> bytes:
    """Lower-case hex of exactly `size` bytes (what the vendors send), else 400."""
    if len(text) != 2 * size or not set(text) <= _HEX:
        raise MalformedBodySignatureError(f"{what} must be {2 * size} lower-case hex digits")
    return bytes.fromhex(text)


def base64_digest(text: str, size: int, what: str) -> bytes:
    """Canonical (padded, no stray characters) standard base64 of exactly `size` bytes, else 400."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raw = b""
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != text:
        raise MalformedBodySignatureError(f"{what} must be canonical base64 of {size} bytes")
    return raw


def timestamp(text: str, what: str) -> int:
    """Unix seconds as plain decimal digits, else 400."""
    canonical = text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))
    if not canonical or len(text) > MAX_TIMESTAMP_DIGITS:
        raise MalformedBodySignatureError(f"{what} must be Unix seconds as plain decimal digits")
    return int(text)


def any_match(given: Sequence[bytes], expected: Sequence[bytes], what: str) -> None:
    """403 unless some given signature equals some expected one; every pair compared in constant time."""
    matched = False
    for one in given:
        for wanted in expected:
            matched |= hmac.compare_digest(one, wanted)
    if not matched:
        raise BodySignatureError(f"no {what} matches the body with a configured key")


def fresh(signed_at: int, now: float, tolerance_seconds: int, what: str) -> None:
    """403 (`stale_body_signature`) when the signed time is outside now ± tolerance; checked after the signature."""
    if abs(now - signed_at) > tolerance_seconds:
        raise BodySignatureError(
            f"{what} is {int(now - signed_at)} s from now; at most {tolerance_seconds} s either way",
            code="stale_body_signature",
        )
