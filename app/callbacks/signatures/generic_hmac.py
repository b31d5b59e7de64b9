"""A generic HMAC scheme for senders with no preset: which header, prefix, algorithm and encoding are options.

Signed: the exact body; or, with a `timestamp_header`, the bytes `<timestamp as sent>.<body>` and the timestamp
must be within the tolerance. The key is the secret's UTF-8 text. Options (per hook source, see
`app.runtime.config`): `header` (required), `prefix` (e.g. `sha256=`, default none), `algorithm` (sha256, sha1,
sha512; default sha256), `encoding` (hex, base64; default hex), `timestamp_header` (default none).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from app.callbacks.signatures.hmac_parts import any_match, base64_digest, fresh, header, timestamp, utf8_key
from app.callbacks.signatures.types import SignatureScheme, SignedBody
from app.errors import MalformedBodySignatureError, SettingsError

NAME = "hmac"
ALGORITHMS = ("sha256", "sha1", "sha512")
ENCODINGS = ("hex", "base64")
OPTIONS = ("header", "prefix", "algorithm", "encoding", "timestamp_header")
_HEADER_NAME = re.compile(r"[a-z0-9-]{1,64}")


def _decode(text: str, encoding: str, size: int, what: str) -> bytes:
    if encoding == "hex":
        if len(text) != 2 * size:
            raise MalformedBodySignatureError(f"{what} must be {2 * size} hex digits")
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise MalformedBodySignatureError(f"{what} must be {2 * size} hex digits") from None
    return base64_digest(text, size, what)


def _option(options: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = options.get(name, default).strip().lower() or default
    if value not in choices:
        raise SettingsError(f"hmac option {name!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _header_name(options: Mapping[str, str], name: str) -> str | None:
    value = options.get(name, "").strip().lower()
    if value and not _HEADER_NAME.fullmatch(value):
        raise SettingsError(f"hmac option {name!r} must be a header name of [A-Za-z0-9-], got {value[:40]!r}")
    return value or None


def build(options: Mapping[str, str]) -> SignatureScheme:
    """The scheme these options describe; SettingsError (at start-up) for unknown or bad options."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SettingsError(f"unknown hmac option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    signature_header = _header_name(options, "header")
    if signature_header is None:
        raise SettingsError("the hmac scheme needs the option 'header' (the header carrying the signature)")
    timestamp_header = _header_name(options, "timestamp_header")
    prefix = options.get("prefix", "")
    algorithm = _option(options, "algorithm", "sha256", ALGORITHMS)
    encoding = _option(options, "encoding", "hex", ENCODINGS)
    size = hashlib.new(algorithm).digest_size
    what = f"header {signature_header!r}"

    def check(
        headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int
    ) -> SignedBody:
        value = header(headers, signature_header)
        if not value.startswith(prefix):
            raise MalformedBodySignatureError(f"{what} must start with {prefix!r}")
        given = _decode(value[len(prefix) :], encoding, size, what)
        signed_at: int | None = None
        signed = body
        if timestamp_header is not None:
            stamp_text = header(headers, timestamp_header)
            signed_at = timestamp(stamp_text, f"header {timestamp_header!r}")
            signed = stamp_text.encode("ascii") + b"." + body
        any_match([given], [hmac.new(key, signed, algorithm).digest() for key in secrets], what)
        if signed_at is not None:
            fresh(signed_at, now, tolerance, f"header {timestamp_header!r}")
        return SignedBody(timestamp=signed_at)

    read = (signature_header,) if timestamp_header is None else (signature_header, timestamp_header)
    return SignatureScheme(NAME, read, utf8_key, check)
