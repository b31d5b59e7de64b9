"""What the mutation run (`just mutation`) showed the URL and body signature tests did not pin down.

Each test names the behaviour it fixes: limits at their exact boundary, every refusal's exact message (the
callback server sends it to the sender), canonical-form checks, the signer's sender and base URL handling.
"""

from __future__ import annotations

import base64

import pytest

from app.callbacks.signatures.standard_webhooks import parse_key, signature_headers, verify
from app.errors import (
    BodySignatureError,
    CallbackUrlError,
    CallbackUrlOverLimitError,
    MalformedBodySignatureError,
    MissingBodySignatureError,
)
from app.gate.callback_urls import (
    CallbackSigner,
    CallbackTarget,
    decode_token,
    encode_token,
    sign_query,
    verify_callback_params,
)
from app.gate.types import Mode

SECRET = "mutants-test-secret-0123456789abcdef"
NOW = 1_700_000_000
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _signed(mode: Mode = Mode.SIGNAL, **changes: str) -> list[tuple[str, str]]:
    params = {"wf": "run", "stage": "2", "attempt": "1", "exp": str(NOW + 60), **changes}
    params = {k: v for k, v in params.items() if v != ""}
    return [*params.items(), ("sig", sign_query(SECRET, mode, params))]


def _refusal(items: list[tuple[str, str]], mode: Mode = Mode.SIGNAL) -> CallbackUrlError:
    with pytest.raises(CallbackUrlError) as caught:
        verify_callback_params(mode, items, [SECRET], now=NOW)
    return caught.value


# --- URL signatures: refusals, exactly ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "mode", "message"),
    [
        (_signed(token="QQ"), Mode.SIGNAL, "query parameter 'token' only belongs in token-mode URLs"),
        (_signed(Mode.TOKEN, token="Q"), Mode.TOKEN, "token is not URL-safe base64"),  # 1 char: no byte
        (
            _signed(Mode.TOKEN, token="QR"),  # decodes to b"A" like "QQ", but is not its canonical text
            Mode.TOKEN,
            "token is not canonical URL-safe base64 (no padding, no other characters)",
        ),
        (_signed(snd="bad name"), Mode.SIGNAL, "query parameter 'snd' is not a sender name"),
        (_signed(attempt="01"), Mode.SIGNAL, "query parameter 'attempt' must be a plain decimal number"),
        (_signed(attempt="\u0661"), Mode.SIGNAL, "query parameter 'attempt' must be a plain decimal number"),
        (_signed(exp=str(NOW - 1)), Mode.SIGNAL, "callback URL has expired"),
        ([*_signed()[:-1], ("sig", "é")], Mode.SIGNAL, "signature does not match"),
        ([*_signed()[:-1], ("sig", "AAAA")], Mode.SIGNAL, "signature does not match"),
    ],
)
def test_url_refusals_say_exactly_why(items: list[tuple[str, str]], mode: Mode, message: str) -> None:
    assert _refusal(items, mode).message == message


def test_a_signed_but_invalid_traceparent_is_refused_by_name() -> None:
    # The signer refuses such values, so sign the query text directly (as a forger with the key could).
    err = _refusal(_signed(traceparent="00-" + "0" * 32 + "-" + "1" * 16 + "-01"))  # all-zero trace ID
    assert err.message == "query parameter 'traceparent' is not a W3C traceparent"
    params = {"wf": "run", "stage": "2", "attempt": "1", "exp": str(NOW + 60), "traceparent": "00-zz"}
    items = [*params.items(), ("sig", sign_query(SECRET, Mode.SIGNAL, params))]
    assert _refusal(items).message == "query parameter 'traceparent' is not a W3C traceparent"


def test_a_signed_stage_that_is_not_a_stage_is_refused_by_name() -> None:
    err = _refusal(_signed(stage="01"))
    assert err.message.startswith("query parameter 'stage': stage '01' is neither a number nor a name")


def test_attempt_zero_is_canonical() -> None:
    assert verify_callback_params(Mode.SIGNAL, _signed(attempt="0"), [SECRET], now=NOW).attempt == 0


def test_query_parameter_limit_is_exactly_twenty() -> None:
    ours = _signed()
    twenty = [*ours, *((f"x{i}", "1") for i in range(20 - len(ours)))]
    assert verify_callback_params(Mode.SIGNAL, twenty, [SECRET], now=NOW)
    with pytest.raises(CallbackUrlOverLimitError) as caught:
        verify_callback_params(Mode.SIGNAL, [*twenty, ("x99", "1")], [SECRET], now=NOW)
    assert caught.value.message == "21 query parameters; at most 20 are accepted"


def test_workflow_id_limit_is_exactly_1000_bytes_when_verifying() -> None:
    assert verify_callback_params(Mode.SIGNAL, _signed(wf="w" * 1000), [SECRET], now=NOW)
    with pytest.raises(CallbackUrlOverLimitError) as caught:
        verify_callback_params(Mode.SIGNAL, _signed(wf="w" * 1001), [SECRET], now=NOW)
    assert (caught.value.code, caught.value.message) == (
        "workflow_id_too_long",
        "query parameter 'wf': workflow ID is 1001 bytes long; Temporal's limit (and ours) is 1000 bytes",
    )


def test_foreign_parameters_before_ours_are_skipped_not_the_end() -> None:
    items = [("utm_source", "mail"), *_signed()]
    assert verify_callback_params(Mode.SIGNAL, items, [SECRET], now=NOW).workflow_id == "run"


def test_every_signed_value_counts_when_a_traceparent_is_present() -> None:
    """The traceparent is appended to the signed bytes: it must not replace what came before it."""
    signer = CallbackSigner("http://cb", SECRET)
    target = CallbackTarget(Mode.SIGNAL, "run", 2, 1, NOW + 60, traceparent=TRACEPARENT)
    url = signer.url_for(target)
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    for name, other in (("wf", "other"), ("stage", "3"), ("attempt", "2"), ("exp", str(NOW + 61))):
        items = [(k, other if k == name else v) for k, v in query.items()]
        with pytest.raises(CallbackUrlError, match="signature does not match"):
            verify_callback_params(Mode.SIGNAL, items, [SECRET], now=NOW)


# --- URL signing ----------------------------------------------------------------------------------------------


def test_signing_refuses_a_workflow_id_over_1000_bytes_and_takes_1000() -> None:
    signer = CallbackSigner("http://cb", SECRET)
    assert signer.url_for(CallbackTarget(Mode.SIGNAL, "w" * 1000, 1, 1, NOW))
    with pytest.raises(ValueError, match=r"^cannot sign a callback URL: workflow ID is 1001 bytes long; Temporal"):
        signer.url_for(CallbackTarget(Mode.SIGNAL, "w" * 1001, 1, 1, NOW))
    with pytest.raises(ValueError, match=r"^cannot sign a callback URL: sender name 'a b' is not \[A-Za-z0-9_-\]"):
        signer.url_for(CallbackTarget(Mode.SIGNAL, "w", 1, 1, NOW, sender="a b"))


def test_the_signers_sender_goes_into_urls_without_one_and_only_those() -> None:
    plain = CallbackTarget(Mode.SIGNAL, "run", 1, 1, NOW + 60)
    named = CallbackTarget(Mode.SIGNAL, "run", 1, 1, NOW + 60, sender="other")
    with_sender = CallbackSigner("http://cb", SECRET, sender="kyc")
    without = CallbackSigner("http://cb", SECRET)

    def sender(url: str) -> str | None:
        query = [part.split("=", 1) for part in url.split("?", 1)[1].split("&")]
        target = verify_callback_params(Mode.SIGNAL, [(k, v) for k, v in query], [SECRET], now=NOW)
        return target.sender

    assert sender(with_sender.url_for(plain)) == "kyc"
    assert sender(with_sender.url_for(named)) == "other"
    assert sender(without.url_for(plain)) is None
    assert sender(without.url_for(named)) == "other"


@pytest.mark.parametrize(("base", "start"), [("http://cb:8000/", "http://cb:8000/"), ("http://box-X", "http://box-X/")])
def test_a_base_url_keeps_its_text_and_gets_one_slash(base: str, start: str) -> None:
    url = CallbackSigner(base, SECRET).url_for(CallbackTarget(Mode.SIGNAL, "run", 1, 1, NOW))
    assert url.startswith(f"{start}callbacks/signal?")


@pytest.mark.parametrize(
    ("token", "text"),
    [(b"\x00\x00\x17", "AAAX"), (b"A", "QQ"), (b"AB", "QUI"), (b"\xfb\xff", "-_8")],
)
def test_token_text_is_exact(token: bytes, text: str) -> None:
    assert encode_token(token) == text
    assert decode_token(text) == token


# --- Body signatures --------------------------------------------------------------------------------------------

KEY = parse_key("whsec_" + base64.b64encode(b"mutants-test-key-32-bytes-long!!").decode())
BODY = b"{}"


def _headers(**changes: str) -> dict[str, str]:
    headers = signature_headers([KEY], "msg_1", NOW, BODY)
    headers.update(changes)
    return {k: v for k, v in headers.items() if v != ""}


def _body_refusal(headers: dict[str, str], now: float = NOW) -> BodySignatureError:
    with pytest.raises(BodySignatureError) as caught:
        verify(headers, BODY, [KEY], now=now)
    return caught.value


@pytest.mark.parametrize(("text", "secret"), [("whsec_QQ", b"A"), ("whsec_QUI", b"AB"), ("whsec_QUJD", b"ABC")])
def test_keys_without_padding_parse(text: str, secret: bytes) -> None:
    assert parse_key(text) == secret


def test_key_refusal_message() -> None:
    with pytest.raises(ValueError, match=r"^a webhook key must be whsec_ followed by non-empty base64$"):
        parse_key("whsec_QR")  # non-canonical: its last character carries bits that are not zero


def test_missing_header_message() -> None:
    headers = _headers()
    del headers["webhook-id"]
    err = _body_refusal(headers)
    assert isinstance(err, MissingBodySignatureError)
    assert err.message == "header 'webhook-id' is missing"


def test_webhook_id_limit_is_exactly_255() -> None:
    long_id = "m" * 255
    headers = signature_headers([KEY], long_id, NOW, BODY)
    assert verify(headers, BODY, [KEY], now=NOW).webhook_id == long_id
    err = _body_refusal(signature_headers([KEY], long_id + "m", NOW, BODY))
    assert isinstance(err, MalformedBodySignatureError)
    assert err.message == "header 'webhook-id' must be 1 to 255 printable ASCII characters without spaces"


def test_timestamp_limit_is_exactly_twelve_digits() -> None:
    twelve = 10**11
    assert verify(signature_headers([KEY], "m", twelve, BODY), BODY, [KEY], now=twelve)
    err = _body_refusal(signature_headers([KEY], "m", 10**12, BODY), now=10**12)
    assert isinstance(err, MalformedBodySignatureError)
    assert err.message == "header 'webhook-timestamp' must be Unix seconds as plain decimal digits"


def test_signature_count_limit_is_exactly_ten() -> None:
    real = _headers()["webhook-signature"]
    assert verify(_headers(**{"webhook-signature": " ".join([real] * 10)}), BODY, [KEY], now=NOW)
    err = _body_refusal(_headers(**{"webhook-signature": " ".join([real] * 11)}))
    assert isinstance(err, MalformedBodySignatureError)
    assert err.message == "header 'webhook-signature' holds more than 10 signatures"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("{real}  {real}", "header 'webhook-signature' entries must look like 'v1,<base64>'"),  # an empty entry
        ("v1", "header 'webhook-signature' entries must look like 'v1,<base64>'"),
        ("v1,abc,def", "a 'v1' signature must be canonical base64 of 32 bytes"),
        ("v1,{noncanonical}", "a 'v1' signature must be canonical base64 of 32 bytes"),
        ("v1,{real_b64}\n", "a 'v1' signature must be canonical base64 of 32 bytes"),
    ],
)
def test_malformed_signature_headers_say_exactly_why(signature: str, message: str) -> None:
    real = _headers()["webhook-signature"]
    real_b64 = real.removeprefix("v1,")
    # 32 bytes are 44 characters with one '='; the last letter carries 2 bits that must be zero.
    last = real_b64[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    noncanonical = real_b64[:-2] + alphabet[alphabet.index(last) ^ 1] + "="
    assert base64.b64decode(noncanonical) == base64.b64decode(real_b64)  # same bytes, other text
    text = signature.format(real=real, real_b64=real_b64, noncanonical=noncanonical)
    err = _body_refusal(_headers(**{"webhook-signature": text}))
    assert isinstance(err, MalformedBodySignatureError)
    assert err.message == message


def test_mismatch_and_stale_messages() -> None:
    other = parse_key("whsec_" + base64.b64encode(b"x" * 32).decode())
    err = _body_refusal(signature_headers([other], "msg_1", NOW, BODY))
    assert err.message == "no 'webhook-signature' matches the body with a configured key"
    late = _body_refusal(_headers(), now=NOW + 301)
    assert (late.code, late.message) == (
        "stale_body_signature",
        "'webhook-timestamp' is 301 s from now; at most 300 s either way",
    )
    early = _body_refusal(_headers(), now=NOW - 301)
    assert early.message == "'webhook-timestamp' is -301 s from now; at most 300 s either way"


def test_the_registry_shape_passes_every_argument_through() -> None:
    """`check` is what the scheme registry calls (positional): keys, clock and tolerance must all reach verify."""
    from app.callbacks.signatures.standard_webhooks import check

    assert check(_headers(), BODY, [KEY], NOW + 10, 10).webhook_id == "msg_1"
    with pytest.raises(BodySignatureError, match="at most 10 s either way"):
        check(_headers(), BODY, [KEY], NOW + 11, 10)
    with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches"):
        check(_headers(), BODY, [parse_key("whsec_QUJD")], NOW, 10)
    with pytest.raises(BodySignatureError, match="no 'webhook-signature' matches"):
        check(_headers(), b"{ }", [KEY], NOW, 10)
