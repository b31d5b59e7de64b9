"""Twilio request signatures: `X-Twilio-Signature`, base64 HMAC over the public URL and the sorted form fields.

Signed: the full URL Twilio requested (as configured in the Twilio console, so behind a proxy or a load
balancer it is the outside URL, never the one this server sees), followed by every form field's name and value,
fields sorted by name and, for a repeated field, its distinct values sorted. HMAC-SHA1 with the account's Auth
Token as UTF-8 (HMAC-SHA256 for a SharedKey, option `algorithm`). Twilio signs the URL with and without the
default port depending on the product, so both are accepted, as Twilio's own validator does. Only form bodies
(status callbacks): Twilio's JSON webhooks sign a `bodySHA256` query parameter instead, not supported here.
Options (per hook source): `url` (required, the exact URL configured at Twilio), `algorithm` (sha1, sha256).
Checked against `twilio.request_validator.RequestValidator` in tests. No timestamp is signed: a replay is only
caught by the event-ID dedupe downstream.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import SplitResult, parse_qsl, urlsplit

from app.callbacks.signatures.hmac_parts import any_match, base64_digest, header, utf8_key
from app.callbacks.signatures.types import SignatureScheme, SignedBody
from app.errors import MalformedBodySignatureError, SettingsError

NAME = "twilio"
HEADER = "x-twilio-signature"
OPTIONS = ("url", "algorithm")
ALGORITHMS = ("sha1", "sha256")
DEFAULT_PORTS = {"https": 443, "http": 80}
# A status callback has a few dozen fields; more is not one.
MAX_FORM_FIELDS = 1000


def _url_variants(url: str) -> tuple[str, ...]:
    """The configured URL, without its port and with the scheme's default port (Twilio signs either)."""
    parts = urlsplit(url)
    host = str(parts.hostname)  # checked at start: present
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"

    def with_netloc(netloc: str) -> str:
        return SplitResult(parts.scheme, netloc, parts.path, parts.query, "").geturl()

    variants = [url, with_netloc(host)]  # fragments are refused at start
    if parts.port is None:
        variants.append(with_netloc(f"{host}:{DEFAULT_PORTS[parts.scheme]}"))
    return tuple(dict.fromkeys(variants))


def _checked_url(options: Mapping[str, str]) -> str:
    url = options.get("url", "").strip()
    if not url:
        raise SettingsError("the twilio scheme needs the option 'url' (the exact webhook URL configured at Twilio)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number
    except ValueError as err:
        raise SettingsError(f"twilio option 'url' is not a URL: {err}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.fragment:
        raise SettingsError(f"twilio option 'url' must be an absolute http(s) URL without a fragment, got {url!r}")
    if "@" in parts.netloc:
        # Never echoed: they are credentials. Twilio's own validator mishandles them too (it splits at ':').
        raise SettingsError("twilio option 'url' must not hold credentials (user:password@); use a secret path")
    return url


def signed_fields(body: bytes) -> str:
    """The form fields as Twilio appends them to the URL: sorted names, each with its sorted distinct values."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except UnicodeDecodeError:
        raise MalformedBodySignatureError("a Twilio-signed body must be UTF-8 form data") from None
    except ValueError as err:
        raise MalformedBodySignatureError(f"a Twilio-signed body must be form data: {err}") from None
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def build(options: Mapping[str, str]) -> SignatureScheme:
    """The scheme for one Twilio webhook URL; SettingsError (at start-up) for unknown or bad options."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SettingsError(f"unknown twilio option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    urls = _url_variants(_checked_url(options))
    algorithm = options.get("algorithm", "").strip().lower() or "sha1"
    if algorithm not in ALGORITHMS:
        raise SettingsError(f"twilio option 'algorithm' must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    size = hashlib.new(algorithm).digest_size

    def check(
        headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int
    ) -> SignedBody:
        del now, tolerance  # nothing signed to be fresh
        given = base64_digest(header(headers, HEADER), size, f"header {HEADER!r}")
        fields = signed_fields(body)
        expected = [
            hmac.new(key, (url + fields).encode("utf-8"), algorithm).digest() for key in secrets for url in urls
        ]
        any_match([given], expected, f"{HEADER!r}")
        return SignedBody()

    return SignatureScheme(NAME, (HEADER,), utf8_key, check)
