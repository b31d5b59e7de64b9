"""Exact boundaries and refusal texts of the vendor presets (Stripe, GitHub, Slack, generic HMAC) and their parts.

Written against `just mutation`'s survivors: each test pins one rule a mutant changed (a limit off by one, an
`or` turned `and`, a refusal that loses the name of what was wrong). Signatures come from the vendors' SDKs
where they sign (Stripe); the other signers are plain HMAC over the documented string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
from stripe import WebhookSignature

from app.callbacks.signatures import hmac_parts, stripe
from app.callbacks.signatures.registry import configured, scheme
from app.errors import (
    BodySignatureError,
    MalformedBodySignatureError,
    MissingBodySignatureError,
    SettingsError,
)

BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
NOW = 1_700_000_000
STRIPE_SECRET = "whsec_test_0123456789abcdefABCDEF"
SECRET = "a-shared-secret-of-this-sender"


def _refused(exc_type: type[BodySignatureError], check: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The refusal's exact type (not a subclass) and its message."""
    with pytest.raises(BodySignatureError) as caught:
        check(*args, **kwargs)
    assert type(caught.value) is exc_type
    return str(caught.value)


# --- hmac_parts -----------------------------------------------------------------------------------------------


def test_missing_header_names_it() -> None:
    assert _refused(MissingBodySignatureError, hmac_parts.header, {}, "x-sig") == "header 'x-sig' is missing"
    assert _refused(MissingBodySignatureError, hmac_parts.header, {"x-sig": ""}, "x-sig") == "header 'x-sig' is missing"


@pytest.mark.parametrize("text", ["", " secret", "secret ", "\tsecret"])
def test_utf8_key_refuses_empty_or_padded(text: str) -> None:
    with pytest.raises(ValueError, match=r"^a secret must be non-empty, without surrounding spaces$"):
        hmac_parts.utf8_key(text)


def test_utf8_key_is_the_text_as_utf8() -> None:
    assert hmac_parts.utf8_key("clé") == "clé".encode()


def test_lower_hex_refusal_says_how_many_digits() -> None:
    message = _refused(MalformedBodySignatureError, hmac_parts.lower_hex, "ab", 32, "the thing")
    assert message == "the thing must be 64 lower-case hex digits"


@pytest.mark.parametrize("text", ["0", "1", "1700000000", "9" * hmac_parts.MAX_TIMESTAMP_DIGITS])
def test_timestamp_accepts_plain_digits(text: str) -> None:
    assert hmac_parts.timestamp(text, "t") == int(text)


@pytest.mark.parametrize(
    "text",
    ["", "01", "00", "abc", "12a", "-1", "+1", " 1", "1.5", "١٢", "9" * (hmac_parts.MAX_TIMESTAMP_DIGITS + 1)],
)
def test_timestamp_refuses_anything_else(text: str) -> None:
    message = _refused(MalformedBodySignatureError, hmac_parts.timestamp, text, "the 't'")
    assert message == "the 't' must be Unix seconds as plain decimal digits"


def test_any_match_refusal_names_what() -> None:
    message = _refused(BodySignatureError, hmac_parts.any_match, [b"a"], [b"b"], "'v1' signature")
    assert message == "no 'v1' signature matches the body with a configured key"


def test_fresh_at_the_tolerance_is_accepted_one_past_is_not() -> None:
    hmac_parts.fresh(NOW - 300, NOW, 300, "t")
    hmac_parts.fresh(NOW + 300, NOW, 300, "t")
    with pytest.raises(BodySignatureError) as caught:
        hmac_parts.fresh(NOW - 301, NOW, 300, "the 't'")
    assert caught.value.code == "stale_body_signature"
    assert str(caught.value) == "the 't' is 301 s from now; at most 300 s either way"
    with pytest.raises(BodySignatureError, match=r"^the 't' is -301 s from now"):
        hmac_parts.fresh(NOW + 301, NOW, 300, "the 't'")


# --- Stripe ---------------------------------------------------------------------------------------------------


def _v1(secret: str = STRIPE_SECRET, ts: int = NOW) -> str:
    """One `v1=...` entry signed by Stripe's SDK."""
    header: str = WebhookSignature.generate_signature_header(BODY.decode(), secret, timestamp=ts)
    return header.split(",")[1]


def _stripe(value: str) -> object:
    found = scheme("stripe")
    return found.verify({"stripe-signature": value}, BODY, [found.parse_key(STRIPE_SECRET)], NOW, 300)


@pytest.mark.parametrize("text", ["whsec_", "whsec", "abc", "WHSEC_abc", " whsec_abc", "whsec_abc ", ""])
def test_stripe_key_refuses_what_is_not_an_endpoint_secret(text: str) -> None:
    with pytest.raises(ValueError, match=r"^a Stripe endpoint secret starts with 'whsec_'$"):
        stripe.parse_key(text)


def test_stripe_key_is_the_whole_text() -> None:
    assert stripe.parse_key("whsec_é1") == "whsec_é1".encode()


def test_stripe_ten_signatures_accepted_eleven_refused() -> None:
    wrong = [_v1(secret=f"whsec_other_{i}") for i in range(hmac_parts.MAX_SIGNATURES)]
    # t + 9 wrong + the right one: 10 signatures, the most a header may hold.
    _stripe(",".join([f"t={NOW}", *wrong[:-1], _v1()]))
    message = _refused(MalformedBodySignatureError, _stripe, ",".join([f"t={NOW}", *wrong, _v1()]))
    assert message == "header 'stripe-signature' holds more than 10 signatures"
    # Twelve entries, every signature right: still too many.
    _refused(MalformedBodySignatureError, _stripe, ",".join([f"t={NOW}", *[_v1()] * 11]))


def test_stripe_entry_value_may_not_hold_another_equals_sign() -> None:
    # Split at the first '=': the 'v1' value 'ab=cd' is malformed, not an unknown key 'v1=ab' to skip.
    message = _refused(MalformedBodySignatureError, _stripe, f"t={NOW},{_v1()},v1=ab=cd")
    assert message == "a 'v1' signature must be 64 lower-case hex digits"


def test_stripe_refusal_texts() -> None:
    assert (
        _refused(MalformedBodySignatureError, _stripe, f"t={NOW},{_v1()},junk")
        == "header 'stripe-signature' entries must look like 'key=value'"
    )
    assert (
        _refused(MalformedBodySignatureError, _stripe, _v1()) == "header 'stripe-signature' must hold exactly one 't='"
    )
    assert (
        _refused(MalformedBodySignatureError, _stripe, f"t=0{NOW},{_v1()}")
        == "the 't' of header 'stripe-signature' must be Unix seconds as plain decimal digits"
    )
    assert (
        _refused(BodySignatureError, _stripe, f"t={NOW},{_v1(secret='whsec_wrong')}")
        == "no 'v1' signature matches the body with a configured key"
    )
    stale = NOW - 301
    assert (
        _refused(BodySignatureError, _stripe, f"t={stale},{_v1(ts=stale)}")
        == "the 't' of header 'stripe-signature' is 301 s from now; at most 300 s either way"
    )


# --- GitHub and Slack -----------------------------------------------------------------------------------------


def _github(value: str) -> object:
    found = scheme("github")
    return found.verify({"x-hub-signature-256": value}, BODY, [found.parse_key(SECRET)], NOW, 300)


def test_github_refusal_texts() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    _github(f"sha256={digest}")
    assert (
        _refused(MalformedBodySignatureError, _github, digest)
        == "header 'x-hub-signature-256' must look like 'sha256=<hex>'"
    )
    assert (
        _refused(MalformedBodySignatureError, _github, f"sha256={digest.upper()}")
        == "header 'x-hub-signature-256' must be 64 lower-case hex digits"
    )
    assert (
        _refused(BodySignatureError, _github, f"sha256={'0' * 64}")
        == "no 'x-hub-signature-256' matches the body with a configured key"
    )


def _slack(value: str, stamp: str = str(NOW)) -> object:
    found = scheme("slack")
    headers = {"x-slack-signature": value, "x-slack-request-timestamp": stamp}
    return found.verify(headers, BODY, [found.parse_key(SECRET)], NOW, 300)


def _slack_sig(stamp: int = NOW) -> str:
    return "v0=" + hmac.new(SECRET.encode(), b"v0:%d:%s" % (stamp, BODY), hashlib.sha256).hexdigest()


def test_slack_refusal_texts() -> None:
    _slack(_slack_sig())
    assert (
        _refused(MalformedBodySignatureError, _slack, _slack_sig(), "x")
        == "header 'x-slack-request-timestamp' must be Unix seconds as plain decimal digits"
    )
    assert (
        _refused(MalformedBodySignatureError, _slack, _slack_sig()[3:])
        == "header 'x-slack-signature' must look like 'v0=<hex>'"
    )
    assert (
        _refused(MalformedBodySignatureError, _slack, "v0=abc")
        == "header 'x-slack-signature' must be 64 lower-case hex digits"
    )
    assert (
        _refused(BodySignatureError, _slack, "v0=" + "0" * 64)
        == "no 'x-slack-signature' matches the body with a configured key"
    )
    stale = NOW - 301
    assert (
        _refused(BodySignatureError, _slack, _slack_sig(stale), str(stale))
        == "header 'x-slack-request-timestamp' is 301 s from now; at most 300 s either way"
    )


# --- generic HMAC ---------------------------------------------------------------------------------------------


def test_generic_hmac_scheme_reads_only_its_headers() -> None:
    plain = configured("hmac", {"header": "X-Sig"})
    assert (plain.name, plain.headers) == ("hmac", ("x-sig",))
    assert plain.parse_key(SECRET) == SECRET.encode()
    timed = configured("hmac", {"header": "x-sig", "timestamp_header": "X-Time"})
    assert timed.headers == ("x-sig", "x-time")


def test_generic_hmac_option_refusal_texts() -> None:
    with pytest.raises(SettingsError) as caught:
        configured("hmac", {"header": "x", "colour": "red", "size": "9"})
    assert str(caught.value) == (
        "unknown hmac option(s) colour, size; known: header, prefix, algorithm, encoding, timestamp_header"
    )
    with pytest.raises(SettingsError) as caught:
        configured("hmac", {"prefix": "sha256="})
    assert str(caught.value) == "the hmac scheme needs the option 'header' (the header carrying the signature)"
    with pytest.raises(SettingsError) as caught:
        configured("hmac", {"header": "x", "algorithm": "md5"})
    assert str(caught.value) == "hmac option 'algorithm' must be one of sha256, sha1, sha512, got 'md5'"
    long_bad = "x_" * 30
    with pytest.raises(SettingsError) as caught:
        configured("hmac", {"header": long_bad})
    assert str(caught.value) == (f"hmac option 'header' must be a header name of [A-Za-z0-9-], got {long_bad[:40]!r}")


def test_generic_hmac_defaults_are_sha256_hex() -> None:
    acme = configured("hmac", {"header": "x-sig", "algorithm": " ", "encoding": ""})
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    acme.verify({"x-sig": digest}, BODY, [acme.parse_key(SECRET)], NOW, 300)


def _acme(value: str, *, encoding: str = "hex", stamp: str | None = None) -> object:
    options = {"header": "x-sig", "prefix": "sha256=", "encoding": encoding}
    headers = {"x-sig": value}
    if stamp is not None:
        options["timestamp_header"] = "x-time"
        headers["x-time"] = stamp
    acme = configured("hmac", options)
    return acme.verify(headers, BODY, [acme.parse_key(SECRET)], NOW, 300)


def test_generic_hmac_hex_refusal_texts() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert _refused(MalformedBodySignatureError, _acme, digest) == "header 'x-sig' must start with 'sha256='"
    for bad in ("sha256=abc", "sha256=" + "zz" * 32):
        assert _refused(MalformedBodySignatureError, _acme, bad) == "header 'x-sig' must be 64 hex digits"
    assert (
        _refused(BodySignatureError, _acme, "sha256=" + "0" * 64)
        == "no header 'x-sig' matches the body with a configured key"
    )


@pytest.mark.parametrize(
    "text",
    [
        "!" * 44,  # not base64 at all
        base64.b64encode(bytes(16)).decode(),  # canonical, but 16 bytes, not 32
        base64.b64encode(bytes(32)).decode().rstrip("="),  # unpadded
        base64.b64encode(bytes(32)).decode()[:-2] + "B=",  # non-canonical trailing bits
        " " + base64.b64encode(bytes(32)).decode(),
    ],
)
def test_generic_hmac_base64_must_be_canonical_and_sized(text: str) -> None:
    message = _refused(MalformedBodySignatureError, _acme, "sha256=" + text, encoding="base64")
    assert message == "header 'x-sig' must be canonical base64 of 32 bytes"


def test_generic_hmac_timestamp_refusal_texts() -> None:
    signed = hmac.new(SECRET.encode(), b"%d.%s" % (NOW, BODY), hashlib.sha256).hexdigest()
    _acme("sha256=" + signed, stamp=str(NOW))
    assert (
        _refused(MalformedBodySignatureError, _acme, "sha256=" + signed, stamp="soon")
        == "header 'x-time' must be Unix seconds as plain decimal digits"
    )
    stale = NOW - 301
    old = hmac.new(SECRET.encode(), b"%d.%s" % (stale, BODY), hashlib.sha256).hexdigest()
    assert (
        _refused(BodySignatureError, _acme, "sha256=" + old, stamp=str(stale))
        == "header 'x-time' is 301 s from now; at most 300 s either way"
    )
