"""Standard Webhooks body signatures, pure: the published test vector, the reference package, strictness."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from app.callbacks.signatures.standard_webhooks import parse_key, sign, signature_headers, verify
from app.errors import BodySignatureError

# The specification's published test vector (Standard Webhooks reference libraries).
VECTOR_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

KEY = parse_key(VECTOR_KEY)
OTHER = parse_key("whsec_" + base64.b64encode(b"another key of 24 bytes!").decode())


def _headers(ts: int = VECTOR_TS, *keys: bytes, body: bytes = VECTOR_BODY) -> dict[str, str]:
    return signature_headers(keys or (KEY,), VECTOR_ID, ts, body)


def _refused(headers: dict[str, str], body: bytes = VECTOR_BODY, now: float = VECTOR_TS, *keys: bytes) -> str:
    with pytest.raises(BodySignatureError) as caught:
        verify(headers, body, keys or (KEY,), now=now)
    return caught.value.code


def test_published_test_vector() -> None:
    assert sign(KEY, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE}
    assert verify(headers, VECTOR_BODY, [KEY], now=VECTOR_TS).webhook_id == VECTOR_ID


def test_reference_package_and_ours_agree_both_ways() -> None:
    when = datetime.fromtimestamp(VECTOR_TS, UTC)
    theirs = Webhook(VECTOR_KEY).sign(msg_id=VECTOR_ID, timestamp=when, data=VECTOR_BODY.decode())
    assert theirs == VECTOR_SIGNATURE
    now_ts = int(datetime.now(UTC).timestamp())
    Webhook(VECTOR_KEY).verify(VECTOR_BODY, _headers(now_ts), json_parse=False)  # raises if it disagrees


def test_rotation_any_configured_key_matches_any_signature() -> None:
    both = _headers(VECTOR_TS, OTHER, KEY)
    assert len(both["webhook-signature"].split(" ")) == 2
    assert verify(both, VECTOR_BODY, [KEY], now=VECTOR_TS)
    assert verify(both, VECTOR_BODY, [OTHER], now=VECTOR_TS)
    assert verify(_headers(), VECTOR_BODY, [OTHER, KEY], now=VECTOR_TS)
    third = parse_key("whsec_" + base64.b64encode(b"a third key").decode())
    assert _refused(both, VECTOR_BODY, VECTOR_TS, third) == "bad_body_signature"


def test_tampered_body_id_or_timestamp_is_refused() -> None:
    assert _refused(_headers(), b'{"test": 2432232315}') == "bad_body_signature"
    assert _refused({**_headers(), "webhook-id": "msg_other"}) == "bad_body_signature"
    # A timestamp moved by one second no longer matches (the signed string is the header as sent).
    assert _refused({**_headers(), "webhook-timestamp": str(VECTOR_TS + 1)}, now=VECTOR_TS) == "bad_body_signature"


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_tolerance_window_is_five_minutes(offset: int, ok: bool) -> None:
    now = VECTOR_TS + offset
    if ok:
        assert verify(_headers(), VECTOR_BODY, [KEY], now=now).timestamp == VECTOR_TS
    else:
        assert _refused(_headers(), VECTOR_BODY, now) == "stale_body_signature"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_401(missing: str) -> None:
    headers = _headers()
    del headers[missing]
    with pytest.raises(BodySignatureError) as caught:
        verify(headers, VECTOR_BODY, [KEY], now=VECTOR_TS)
    assert (caught.value.code, caught.value.status_code) == ("missing_body_signature", 401)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-timestamp", f"0{VECTOR_TS}"),
        ("webhook-timestamp", f"+{VECTOR_TS}"),
        ("webhook-timestamp", f"{VECTOR_TS}.0"),  # the reference verifier floors this and accepts it
        ("webhook-timestamp", "١٦١٤٢٦٥٣٣٠"),  # Arabic-Indic digits: float() takes them
        ("webhook-timestamp", "1e9"),
        ("webhook-timestamp", "9" * 40),
        ("webhook-signature", "v1"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", VECTOR_SIGNATURE.rstrip("=")),  # unpadded
        ("webhook-signature", VECTOR_SIGNATURE + "=="),  # over-padded
        ("webhook-signature", VECTOR_SIGNATURE.replace("+", "-")),  # URL-safe alphabet is another encoding
        ("webhook-signature", "v1,AAAA"),  # not 32 bytes
        ("webhook-signature", " ".join([VECTOR_SIGNATURE] * 11)),
        ("webhook-id", "msg with space"),
        ("webhook-id", "msg_é"),
        ("webhook-id", "m" * 256),
    ],
)
def test_non_canonical_headers_are_400(name: str, value: str) -> None:
    with pytest.raises(BodySignatureError) as caught:
        verify({**_headers(), name: value}, VECTOR_BODY, [KEY], now=VECTOR_TS)
    assert (caught.value.code, caught.value.status_code) == ("malformed_body_signature", 400)


def test_other_schemes_are_skipped_not_matched() -> None:
    assert _refused({**_headers(), "webhook-signature": "v1a,abc"}) == "bad_body_signature"
    mixed = {**_headers(), "webhook-signature": f"v1a,abc {VECTOR_SIGNATURE}"}
    assert verify(mixed, VECTOR_BODY, [KEY], now=VECTOR_TS).webhook_id == VECTOR_ID


@pytest.mark.parametrize("key", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not*base64", "whsec_AAAA!"])
def test_bad_keys_are_refused_at_configuration(key: str) -> None:
    with pytest.raises(ValueError, match="whsec_"):
        parse_key(key)
