"""The `twilio` preset against Twilio's own `RequestValidator`: the SDK signs, we accept; tampering is refused.

Twilio signs the URL it requested plus the sorted form fields; the SDK's `compute_signature` is the only signer
here, and its `validate` is asked first whether each request it signed is valid, so the oracle is proven too.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from twilio.request_validator import HMAC_SHA256, RequestValidator

from app.callbacks.signatures.registry import configured
from app.callbacks.signatures.types import SignatureScheme
from app.errors import BodySignatureError, SettingsError, status_of

TOKEN = "12345678901234567890123456789012"
URL = "https://hooks.example.com/hooks/sms?team=ops"
FIELDS = [
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("MessageStatus", "delivered"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("To", "+15558675310"),
    ("Body", "héllo & bye=now"),
    ("ErrorCode", ""),  # blank fields are signed too (name only)
]


class MultiDict(dict[str, list[str]]):
    """The shape the SDK reads repeated fields from (`getall`, as Flask's MultiDict)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _params(fields: list[tuple[str, str]]) -> MultiDict:
    grouped = MultiDict()
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    return grouped


def _sdk_signature(url: str, fields: list[tuple[str, str]], *, algorithm: str | None = None) -> str:
    validator = RequestValidator(TOKEN)
    signature: str = validator.compute_signature(url, _params(fields), algorithm)
    assert validator.validate(url, _params(fields), signature, algorithm)  # the oracle agrees with itself
    return signature


def _scheme(url: str = URL, **options: str) -> SignatureScheme:
    return configured("twilio", {"url": url, **options})


def _verify(scheme: SignatureScheme, signature: str, body: bytes, token: str = TOKEN) -> None:
    scheme.verify({"x-twilio-signature": signature}, body, [scheme.parse_key(token)], 0.0, 300)


def _refusal(scheme: SignatureScheme, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    with pytest.raises(BodySignatureError) as caught:
        scheme.verify(headers, body, [scheme.parse_key(TOKEN)], 0.0, 300)
    return status_of(caught.value), caught.value.code


def test_sdk_signs_we_accept() -> None:
    _verify(_scheme(), _sdk_signature(URL, FIELDS), urlencode(FIELDS).encode())


def test_field_order_and_encoding_do_not_matter() -> None:
    signature = _sdk_signature(URL, FIELDS)
    _verify(_scheme(), signature, urlencode(list(reversed(FIELDS))).encode())
    # Spaces as %20 instead of '+', every reserved character escaped: the same fields.
    percent = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in FIELDS)
    _verify(_scheme(), signature, percent.encode())


def test_repeated_fields_as_the_sdk_signs_them() -> None:
    fields = [*FIELDS, ("MediaUrl", "https://b.example/2"), ("MediaUrl", "https://a.example/1")]
    _verify(_scheme(), _sdk_signature(URL, fields), urlencode(fields).encode())


def test_url_with_or_without_the_default_port() -> None:
    body = urlencode(FIELDS).encode()
    with_port = "https://hooks.example.com:443/hooks/sms?team=ops"
    for signed_url in (URL, with_port):
        for configured_url in (URL, with_port):
            _verify(_scheme(configured_url), _sdk_signature(signed_url, FIELDS), body)


def test_sha256_shared_key_option() -> None:
    signature = _sdk_signature(URL, FIELDS, algorithm=HMAC_SHA256)
    _verify(_scheme(algorithm="sha256"), signature, urlencode(FIELDS).encode())
    assert _refusal(_scheme(), {"x-twilio-signature": signature}, urlencode(FIELDS).encode()) == (
        400,
        "malformed_body_signature",
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: [*f, ("Extra", "1")],
        lambda f: [(n, v + "x") if n == "MessageStatus" else (n, v) for n, v in f],
        lambda f: [(n, v) for n, v in f if n != "To"],
        lambda f: [("messagesid" if n == "MessageSid" else n, v) for n, v in f],
    ],
    ids=["field added", "value changed", "field removed", "name case"],
)
def test_tampered_fields_are_refused(tamper: object) -> None:
    signature = _sdk_signature(URL, FIELDS)
    body = urlencode(tamper(FIELDS)).encode()  # type: ignore[operator]
    assert _refusal(_scheme(), {"x-twilio-signature": signature}, body) == (403, "bad_body_signature")


@pytest.mark.parametrize(
    "other_url",
    [
        "http://hooks.example.com/hooks/sms?team=ops",  # the URL this server sees behind a TLS proxy
        "https://hooks.example.com/hooks/sms",
        "https://hooks.example.com:8443/hooks/sms?team=ops",
        "https://evil.example.com/hooks/sms?team=ops",
    ],
)
def test_a_signature_for_another_url_is_refused(other_url: str) -> None:
    signature = _sdk_signature(other_url, FIELDS)
    got = _refusal(_scheme(), {"x-twilio-signature": signature}, urlencode(FIELDS).encode())
    assert got == (403, "bad_body_signature")


def test_wrong_token_missing_and_malformed_header() -> None:
    body = urlencode(FIELDS).encode()
    other = RequestValidator("another-auth-token-0000000000000").compute_signature(URL, _params(FIELDS))
    good = _sdk_signature(URL, FIELDS)
    assert _refusal(_scheme(), {"x-twilio-signature": other}, body) == (403, "bad_body_signature")
    assert _refusal(_scheme(), {}, body) == (401, "missing_body_signature")
    for bad in ("abc", good.rstrip("="), good + "=", " " + good, good[:-2] + "B="):
        assert _refusal(_scheme(), {"x-twilio-signature": bad}, body) == (400, "malformed_body_signature"), bad
    assert _refusal(_scheme(), {"x-twilio-signature": good}, b"\xff\xfe") == (400, "malformed_body_signature")


def test_signature_bytes_tampered() -> None:
    good = _sdk_signature(URL, FIELDS)
    body = urlencode(FIELDS).encode()
    for index in range(len(good.rstrip("="))):
        flipped = good[:index] + ("A" if good[index] != "A" else "B") + good[index + 1 :]
        assert _refusal(_scheme(), {"x-twilio-signature": flipped}, body)[0] in (400, 403), index


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "^the twilio scheme needs the option 'url' \\(the exact webhook URL configured at Twilio\\)$"),
        ({"url": "/hooks/sms"}, "must be an absolute http\\(s\\) URL"),
        ({"url": "ftp://x.example/hooks"}, "must be an absolute http\\(s\\) URL"),
        ({"url": "https://x.example/h#frag"}, "without a fragment"),
        ({"url": "https://x.example:port/h"}, "is not a URL"),
        ({"url": URL, "algorithm": "md5"}, "must be one of sha1, sha256, got 'md5'"),
        (
            {"url": URL, "header": "x", "colour": "red"},
            "^unknown twilio option\\(s\\) colour, header; known: url, algorithm$",
        ),
        (
            {"url": "https://u:p@x.example/h"},
            "^twilio option 'url' must not hold credentials \\(user:password@\\); use a secret path$",
        ),
    ],
)
def test_options_are_checked_at_start(options: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        configured("twilio", options)


def test_scheme_reads_only_its_header_and_takes_the_token_as_text() -> None:
    scheme = _scheme()
    assert (scheme.name, scheme.headers, scheme.parse_key(TOKEN)) == ("twilio", ("x-twilio-signature",), TOKEN.encode())


def test_ipv6_host_keeps_its_brackets_in_every_variant() -> None:
    body = urlencode(FIELDS).encode()
    for signed_url in ("https://[2001:db8::1]/hooks/sms", "https://[2001:db8::1]:443/hooks/sms"):
        _verify(_scheme("https://[2001:db8::1]:443/hooks/sms"), _sdk_signature(signed_url, FIELDS), body)


def test_refusal_texts_name_the_header() -> None:
    body = urlencode(FIELDS).encode()
    with pytest.raises(BodySignatureError) as caught:
        _verify(_scheme(), "abc", body)
    assert str(caught.value) == "header 'x-twilio-signature' must be canonical base64 of 20 bytes"
    with pytest.raises(BodySignatureError) as caught:
        _verify(_scheme(), "A" * 27 + "=", body)
    assert str(caught.value) == "no 'x-twilio-signature' matches the body with a configured key"
    with pytest.raises(BodySignatureError) as caught:
        _verify(_scheme(), _sdk_signature(URL, FIELDS), b"Body=\xff")
    assert str(caught.value) == "a Twilio-signed body must be UTF-8 form data"


def test_more_fields_than_a_status_callback_has_are_refused() -> None:
    fields = [(f"F{i}", "x") for i in range(1001)]
    with pytest.raises(BodySignatureError) as caught:
        _verify(_scheme(), _sdk_signature(URL, fields[:10]), urlencode(fields).encode())
    assert str(caught.value).startswith("a Twilio-signed body must be form data: ")
    assert status_of(caught.value) == 400
    fields = fields[:1000]
    _verify(_scheme(), _sdk_signature(URL, fields), urlencode(fields).encode())
