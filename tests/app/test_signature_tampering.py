"""Tampering with the signature bytes themselves: a prefix, a suffix, one byte changed, another key's signature.

The other signature tests change what is signed (body, ID, timestamp, URL values); these change the signature,
so a check that compared only part of it, or compared it loosely, would fail here (issue 21, item 9).
"""

from __future__ import annotations

import base64
import string
import time

import pytest

from app.callbacks.signatures.standard_webhooks import parse_key, signature_headers, verify
from app.errors import BodySignatureError, CallbackUrlError, MalformedBodySignatureError
from app.gate.callback_urls import CallbackTarget, encode_token, sign_query, verify_callback_params
from app.gate.types import Mode

SECRET = "tamper-test-secret-0123456789abcdef"
OTHER_SECRET = "another-secret-of-enough-bytes-0123456789"
NOW = 1_700_000_000


def _params(mode: Mode = Mode.SIGNAL) -> dict[str, str]:
    params = {"wf": "tamper-run", "stage": "2", "attempt": "1", "exp": str(NOW + 600)}
    if mode is Mode.TOKEN:
        params["token"] = encode_token(b"\x01task-token")
    return params


def _verify_url(mode: Mode, params: dict[str, str], sig: str) -> CallbackTarget:
    return verify_callback_params(mode, [*params.items(), ("sig", sig)], [SECRET], now=NOW)


def _other_char(ch: str) -> str:
    """A different character of the URL-safe base64 alphabet."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return alphabet[(alphabet.index(ch) + 1) % len(alphabet)]


URL_MODES = [Mode.SIGNAL, Mode.TOKEN, Mode.UPDATE]


@pytest.mark.parametrize("mode", URL_MODES)
def test_url_signature_itself_verifies(mode: Mode) -> None:
    target = _verify_url(mode, _params(mode), sign_query(SECRET, mode, _params(mode)))
    assert target.workflow_id == "tamper-run"


@pytest.mark.parametrize("mode", URL_MODES)
def test_url_signature_prefixes_and_suffixes_are_refused(mode: Mode) -> None:
    params = _params(mode)
    sig = sign_query(SECRET, mode, params)
    for cut in range(1, len(sig)):
        for part in (sig[:cut], sig[cut:]):
            with pytest.raises(CallbackUrlError, match="signature does not match"):
                _verify_url(mode, params, part)
    for extended in (sig + "A", "A" + sig, sig + sig):
        with pytest.raises(CallbackUrlError, match="signature does not match"):
            _verify_url(mode, params, extended)


@pytest.mark.parametrize("mode", URL_MODES)
def test_url_signature_with_any_one_character_changed_is_refused(mode: Mode) -> None:
    params = _params(mode)
    sig = sign_query(SECRET, mode, params)
    for i, ch in enumerate(sig):
        with pytest.raises(CallbackUrlError, match="signature does not match"):
            _verify_url(mode, params, sig[:i] + _other_char(ch) + sig[i + 1 :])


@pytest.mark.parametrize("mode", URL_MODES)
def test_url_signature_of_another_key_or_mode_is_refused(mode: Mode) -> None:
    params = _params(mode)
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        _verify_url(mode, params, sign_query(OTHER_SECRET, mode, params))
    other_mode = Mode.UPDATE if mode is Mode.SIGNAL else Mode.SIGNAL
    if mode is not Mode.TOKEN:  # token-mode params carry a token the other routes refuse first
        with pytest.raises(CallbackUrlError, match="signature does not match"):
            _verify_url(mode, params, sign_query(SECRET, other_mode, params))


def test_url_signature_verifies_only_against_a_configured_secret() -> None:
    params = _params()
    sig = sign_query(OTHER_SECRET, Mode.SIGNAL, params)
    items = [*params.items(), ("sig", sig)]
    assert verify_callback_params(Mode.SIGNAL, items, [SECRET, OTHER_SECRET], now=NOW)
    for secrets in ([SECRET], [], [OTHER_SECRET[:-1]], [OTHER_SECRET + "x"]):
        with pytest.raises(CallbackUrlError, match="signature does not match"):
            verify_callback_params(Mode.SIGNAL, items, secrets, now=NOW)


# --- Standard Webhooks body signatures ----------------------------------------------------------------------------

KEY = parse_key("whsec_" + base64.b64encode(b"tamper-test-key-32-bytes-long!!!").decode())
OTHER_KEY = parse_key("whsec_" + base64.b64encode(b"a-different-key-32-bytes-long!!!").decode())
BODY = b'{"status": "completed"}'
WEBHOOK_ID = "msg_tamper"


def _headers_with(signature: str) -> dict[str, str]:
    return {"webhook-id": WEBHOOK_ID, "webhook-timestamp": str(NOW), "webhook-signature": signature}


def _real_raw() -> bytes:
    header = signature_headers([KEY], WEBHOOK_ID, NOW, BODY)["webhook-signature"]
    return base64.b64decode(header.removeprefix("v1,"))


def _v1(raw: bytes) -> str:
    return "v1," + base64.b64encode(raw).decode()


def _verify_body(signature: str) -> None:
    verify(_headers_with(signature), BODY, [KEY], now=NOW)


def test_body_signature_itself_verifies() -> None:
    _verify_body(_v1(_real_raw()))


def test_body_signature_with_any_one_byte_changed_is_refused_as_a_mismatch() -> None:
    raw = _real_raw()
    for i in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF):
            tampered = raw[:i] + bytes([raw[i] ^ flip]) + raw[i + 1 :]
            with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches") as caught:
                _verify_body(_v1(tampered))
            assert not isinstance(caught.value, MalformedBodySignatureError)


def test_body_signature_prefixes_and_suffixes_are_refused() -> None:
    raw = _real_raw()
    for cut in range(1, len(raw)):
        for part in (raw[:cut], raw[cut:]):
            with pytest.raises(BodySignatureError):
                _verify_body(_v1(part))  # not 32 bytes: malformed (400), never accepted
            # Padded back to 32 bytes, a shared prefix or suffix is still a mismatch (403).
            padded = part + bytes(32 - len(part)) if part == raw[:cut] else bytes(32 - len(part)) + part
            with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches"):
                _verify_body(_v1(padded))
    text = _v1(raw)
    for cut in range(len("v1,") + 1, len(text)):
        with pytest.raises(BodySignatureError):
            _verify_body(text[:cut])
    with pytest.raises(BodySignatureError):
        _verify_body(text + "A")


def test_body_signature_of_another_key_is_refused() -> None:
    theirs = signature_headers([OTHER_KEY], WEBHOOK_ID, NOW, BODY)["webhook-signature"]
    with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches"):
        _verify_body(theirs)
    # Next to a tampered one, or many times over: still no match.
    tampered = _v1(bytes(b ^ 0x01 for b in _real_raw()))
    with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches"):
        _verify_body(f"{theirs} {tampered} {theirs}")


def test_body_signature_under_another_version_tag_is_not_a_match() -> None:
    raw = _real_raw()
    for tag in ("v1a", "v2", "V1", "v1 "):
        with pytest.raises(BodySignatureError):
            _verify_body(f"{tag},{base64.b64encode(raw).decode()}")


def test_body_signature_checks_every_configured_key_exactly() -> None:
    signature = _v1(_real_raw())
    verify(_headers_with(signature), BODY, [OTHER_KEY, KEY], now=NOW)
    # Not `KEY + b"\x00"`: HMAC pads keys shorter than its block with zero bytes, so that IS the same key.
    for keys in ([OTHER_KEY], [], [KEY[:-1]], [KEY + b"\x01"]):
        with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches"):
            verify(_headers_with(signature), BODY, keys, now=NOW)


def test_time_is_not_what_makes_these_fail() -> None:
    """Sanity: the real signature verifies at NOW, so each refusal above is about the signature bytes."""
    assert time.time() > NOW  # the fixed clock is in the past; verify() is given `now` explicitly
    _verify_body(_v1(_real_raw()))
