"""Vendor signature presets against the vendors' own SDKs: the SDK signs, our verifier accepts; tampering is refused.

Our side never signs in these tests (the SDK, or a vector the vendor publishes, is the only signer), so a
verifier that agrees with itself but not with the vendor fails here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from slack_sdk.signature import SignatureVerifier
from stripe import WebhookSignature

from app.callbacks.signatures.registry import configured, scheme
from app.errors import BodySignatureError, status_of

BODY = b'{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_42"}}}'
STRIPE_SECRET = "whsec_test_0123456789abcdefABCDEF"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000


def _tampered(body: bytes) -> list[bytes]:
    """Prefix, suffix and one flipped byte in the middle."""
    middle = len(body) // 2
    return [b" " + body, body + b" ", body[:middle] + bytes([body[middle] ^ 1]) + body[middle + 1 :]]


def _refusal(name: str, headers: dict[str, str], body: bytes, secret: str, now: float = NOW) -> tuple[int, str]:
    found = scheme(name)
    with pytest.raises(BodySignatureError) as caught:
        found.verify(headers, body, [found.parse_key(secret)], now, 300)
    return status_of(caught.value), caught.value.code


# --- Stripe ---------------------------------------------------------------------------------------------------


def _stripe_headers(body: bytes = BODY, ts: int = NOW, secret: str = STRIPE_SECRET) -> dict[str, str]:
    return {"stripe-signature": WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=ts)}


def test_stripe_sdk_signs_we_accept() -> None:
    stripe_scheme = scheme("stripe")
    signed = stripe_scheme.verify(_stripe_headers(), BODY, [stripe_scheme.parse_key(STRIPE_SECRET)], NOW, 300)
    assert signed.timestamp == NOW
    # The SDK's verifier agrees on the very header (guards the oracle against a changed helper).
    WebhookSignature.verify_header(
        BODY.decode(), _stripe_headers(ts=int(time.time()))["stripe-signature"], STRIPE_SECRET, tolerance=300
    )


def test_stripe_rotation_any_v1_matches() -> None:
    old = "whsec_old_secret_rolled_out"
    one = _stripe_headers()["stripe-signature"]
    other = _stripe_headers(secret=old)["stripe-signature"].split(",")[1]
    both = {"stripe-signature": f"{one},{other},v0=deadbeef"}
    stripe_scheme = scheme("stripe")
    assert stripe_scheme.verify(both, BODY, [stripe_scheme.parse_key(old)], NOW, 300).timestamp == NOW
    assert stripe_scheme.verify(both, BODY, [stripe_scheme.parse_key(STRIPE_SECRET)], NOW, 300)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_stripe_tampered_body_refused(index: int) -> None:
    assert _refusal("stripe", _stripe_headers(), _tampered(BODY)[index], STRIPE_SECRET) == (403, "bad_body_signature")


def test_stripe_wrong_secret_stale_missing_malformed() -> None:
    assert _refusal("stripe", _stripe_headers(), BODY, "whsec_another") == (403, "bad_body_signature")
    assert _refusal("stripe", _stripe_headers(), BODY, STRIPE_SECRET, NOW + 301) == (403, "stale_body_signature")
    assert _refusal("stripe", {}, BODY, STRIPE_SECRET) == (401, "missing_body_signature")
    assert _refusal("stripe", {"stripe-signature": "v1=abc"}, BODY, STRIPE_SECRET)[0] == 400
    # A moved timestamp no longer matches: the signed string is `t` as sent.
    moved = {"stripe-signature": _stripe_headers()["stripe-signature"].replace(f"t={NOW}", f"t={NOW + 1}")}
    assert _refusal("stripe", moved, BODY, STRIPE_SECRET) == (403, "bad_body_signature")


# --- Slack ----------------------------------------------------------------------------------------------------


def _slack_headers(body: bytes = BODY, ts: int = NOW, secret: str = SLACK_SECRET) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    assert signature is not None
    return {"x-slack-signature": signature, "x-slack-request-timestamp": str(ts)}


def test_slack_sdk_signs_we_accept() -> None:
    slack = scheme("slack")
    assert slack.verify(_slack_headers(), BODY, [slack.parse_key(SLACK_SECRET)], NOW, 300).timestamp == NOW
    now = int(time.time())
    assert SignatureVerifier(SLACK_SECRET).is_valid_request(BODY, _slack_headers(ts=now))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_slack_tampered_body_refused(index: int) -> None:
    assert _refusal("slack", _slack_headers(), _tampered(BODY)[index], SLACK_SECRET) == (403, "bad_body_signature")


def test_slack_wrong_secret_stale_missing() -> None:
    assert _refusal("slack", _slack_headers(), BODY, "another-secret") == (403, "bad_body_signature")
    assert _refusal("slack", _slack_headers(), BODY, SLACK_SECRET, NOW - 301) == (403, "stale_body_signature")
    for missing in ("x-slack-signature", "x-slack-request-timestamp"):
        headers = _slack_headers()
        del headers[missing]
        assert _refusal("slack", headers, BODY, SLACK_SECRET) == (401, "missing_body_signature")
    moved = {**_slack_headers(), "x-slack-request-timestamp": str(NOW + 1)}
    assert _refusal("slack", moved, BODY, SLACK_SECRET) == (403, "bad_body_signature")


# --- GitHub: the example GitHub's docs publish ("Validating webhook deliveries") --------------------------------

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_example_accepted() -> None:
    github = scheme("github")
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE}
    assert github.verify(headers, GITHUB_BODY, [github.parse_key(GITHUB_SECRET)], NOW, 300).webhook_id is None


@pytest.mark.parametrize("index", [0, 1, 2])
def test_github_tampered_body_refused(index: int) -> None:
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE}
    assert _refusal("github", headers, _tampered(GITHUB_BODY)[index], GITHUB_SECRET) == (403, "bad_body_signature")


def test_github_wrong_secret_missing_malformed() -> None:
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE}
    assert _refusal("github", headers, GITHUB_BODY, "another") == (403, "bad_body_signature")
    assert _refusal("github", {}, GITHUB_BODY, GITHUB_SECRET) == (401, "missing_body_signature")
    sha1 = {"x-hub-signature-256": GITHUB_SIGNATURE.replace("sha256=", "sha1=")}
    assert _refusal("github", sha1, GITHUB_BODY, GITHUB_SECRET)[0] == 400


# --- Generic HMAC: the signer is the standard library's hmac, written out here, not ours ----------------------


def test_generic_hmac_base64_with_timestamp() -> None:
    options = {"header": "X-Acme-Signature", "prefix": "v1=", "encoding": "base64", "timestamp_header": "X-Acme-Ts"}
    acme = configured("hmac", options)
    digest = hmac.new(b"acme-secret", f"{NOW}.".encode() + BODY, hashlib.sha256).digest()
    headers = {"x-acme-signature": "v1=" + base64.b64encode(digest).decode(), "x-acme-ts": str(NOW)}
    assert acme.verify(headers, BODY, [b"acme-secret"], NOW, 300).timestamp == NOW
    for body in _tampered(BODY):
        with pytest.raises(BodySignatureError):
            acme.verify(headers, body, [b"acme-secret"], NOW, 300)
    with pytest.raises(BodySignatureError) as stale:
        acme.verify(headers, BODY, [b"acme-secret"], NOW + 301, 300)
    assert stale.value.code == "stale_body_signature"


def test_generic_hmac_hex_sha1_no_timestamp() -> None:
    acme = configured("hmac", {"header": "x-sig", "algorithm": "sha1"})
    headers = {"x-sig": hmac.new(b"k", BODY, hashlib.sha1).hexdigest().upper()}
    assert acme.verify(headers, BODY, [b"k"], NOW, 300).timestamp is None
    with pytest.raises(BodySignatureError):
        acme.verify(headers, BODY, [b"other"], NOW, 300)


def test_scheme_options_are_checked_at_start() -> None:
    with pytest.raises(ValueError, match="needs the option 'header'"):
        configured("hmac", {})
    with pytest.raises(ValueError, match="unknown hmac option"):
        configured("hmac", {"header": "x", "colour": "red"})
    with pytest.raises(ValueError, match="takes no options"):
        configured("stripe", {"header": "x"})
    with pytest.raises(ValueError, match="unknown signature scheme"):
        configured("paypal", {})
