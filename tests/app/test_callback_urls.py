"""Signed callback URLs: round trip, rotation, tampering, expiry, awkward task tokens."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.errors import CallbackUrlError
from app.gate.callback_urls import (
    CallbackTarget,
    build_callback_url,
    decode_token,
    encode_token,
    verify_callback_params,
)
from app.gate.types import Mode

# Bytes whose standard base64 holds '+', '/' and '=' (the seed demo's URLs broke on these).
AWKWARD_TOKEN = bytes([0xFB, 0xFF, 0xBF, 0xFE, 0x3E, 0x3F]) + b"\x00tok"


def _params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _target(mode: Mode = Mode.TOKEN, **kw: object) -> CallbackTarget:
    base: dict[str, object] = {
        "mode": mode,
        "workflow_id": "wf/with spaces&odd=chars",
        "stage": 2,
        "attempt": 1,
        "expires_at": int(time.time()) + 60,
        "task_token": AWKWARD_TOKEN if mode is Mode.TOKEN else None,
    }
    base.update(kw)
    return CallbackTarget(**base)  # type: ignore[arg-type]


def test_awkward_token_survives_url() -> None:
    import base64

    assert set("+/=") & set(base64.b64encode(AWKWARD_TOKEN).decode())
    encoded = encode_token(AWKWARD_TOKEN)
    assert not set("+/=") & set(encoded)
    assert decode_token(encoded) == AWKWARD_TOKEN


@pytest.mark.parametrize("mode", list(Mode))
def test_round_trip(mode: Mode) -> None:
    target = _target(mode)
    url = build_callback_url("http://cb:8000/", "s1", target)
    assert urlsplit(url).path == f"/callbacks/{mode.value}"
    assert verify_callback_params(mode, _params(url).items(), ["s1"], now=time.time()) == target


def test_rotation_accepts_any_listed_secret() -> None:
    url = build_callback_url("http://cb", "old", _target())
    assert verify_callback_params(Mode.TOKEN, _params(url).items(), ["new", "old"], now=time.time()).stage == 2
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, _params(url).items(), ["new"], now=time.time())


@pytest.mark.parametrize(("field", "value"), [("stage", "3"), ("wf", "other"), ("attempt", "2"), ("exp", "9999999999")])
def test_tampering_is_rejected(field: str, value: str) -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    params[field] = value
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, params.items(), ["s"], now=time.time())


def test_token_swap_is_rejected() -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    params["token"] = encode_token(b"another activity")
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, params.items(), ["s"], now=time.time())


def test_signal_url_is_not_valid_on_token_route() -> None:
    params = _params(build_callback_url("http://cb", "s", _target(Mode.SIGNAL)))
    with pytest.raises(CallbackUrlError, match="'run' and 'act' are missing"):
        verify_callback_params(Mode.TOKEN, params.items(), ["s"], now=time.time())


def test_expired() -> None:
    url = build_callback_url("http://cb", "s", _target(expires_at=100))
    with pytest.raises(CallbackUrlError, match="expired"):
        verify_callback_params(Mode.TOKEN, _params(url).items(), ["s"], now=101)


def test_missing_and_malformed() -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    for name in ("sig", "wf", "stage", "exp"):
        broken = {k: v for k, v in params.items() if k != name}
        with pytest.raises(CallbackUrlError) as info:
            verify_callback_params(Mode.TOKEN, broken.items(), ["s"], now=time.time())
        assert (info.value.code, info.value.status_code) == ("missing_parameter", 401)
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, {**params, "stage": "two"}.items(), ["s"], now=time.time())


def test_named_stage_round_trip() -> None:
    target = _target(Mode.UPDATE, stage="kyc")
    url = build_callback_url("http://cb", "s", target)
    assert _params(url)["stage"] == "kyc"
    assert verify_callback_params(Mode.UPDATE, _params(url).items(), ["s"], now=time.time()) == target


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stage", "02"),
        ("stage", "+2"),
        ("stage", " 2"),
        ("stage", "\uff12"),  # fullwidth 2
        ("stage", "\u0662"),  # Arabic-Indic 2
        ("attempt", "01"),
        ("exp", "+"),
    ],
)
def test_non_canonical_values_do_not_verify(field: str, value: str) -> None:
    # The signature covers the exact text sent: a value that parses to the same number is still refused.
    params = _params(build_callback_url("http://cb", "s", _target()))
    params[field] = value if field != "exp" else "+" + params["exp"]
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, params.items(), ["s"], now=time.time())


def test_padded_or_swapped_token_characters_do_not_verify() -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    for token in (params["token"] + "=", params["token"].replace("-", "+").replace("_", "/")):
        if token == params["token"]:
            continue
        with pytest.raises(CallbackUrlError):
            verify_callback_params(Mode.TOKEN, {**params, "token": token}.items(), ["s"], now=time.time())


def test_repeated_parameters_are_refused_and_foreign_ones_ignored() -> None:
    target = _target()
    params = _params(build_callback_url("http://cb", "s", target))
    items = list(params.items())
    with pytest.raises(CallbackUrlError, match="repeated"):
        verify_callback_params(Mode.TOKEN, [("stage", "3"), *items], ["s"], now=time.time())
    # A parameter a proxy or tracker added is neither signed nor read.
    assert verify_callback_params(Mode.TOKEN, [*items, ("utm_source", "x")], ["s"], now=time.time()) == target


def test_non_ascii_signature_is_a_clean_refusal() -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    params["sig"] = "\u00e9" + params["sig"][1:]
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, params.items(), ["s"], now=time.time())


# --- the trace context in the URL -------------------------------------------------------------------

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# Built by the code as it was before URLs could carry a traceparent: such URLs must keep verifying, byte for byte.
GOLDEN = {
    "https://cb.example/callbacks/token?wf=wf-golden&stage=2&attempt=1&token=-_-__j4_AHRvaw&exp=4102444800"
    "&sig=rPfWWjx48E_tegvVzG1Ro0ZRzv9gWqfC5X6NG-TLoXI": CallbackTarget(
        Mode.TOKEN, "wf-golden", 2, 1, 4102444800, task_token=AWKWARD_TOKEN
    ),
    "https://cb.example/callbacks/signal?wf=wf-golden&stage=kyc&attempt=3&exp=4102444800"
    "&sig=k_G-okIZQESxwXHsYxhE_bSP0Q72cSdWRUU-hgYvojY": CallbackTarget(Mode.SIGNAL, "wf-golden", "kyc", 3, 4102444800),
}


@pytest.mark.parametrize("url", GOLDEN)
def test_urls_without_traceparent_sign_the_same_bytes_as_before(url: str) -> None:
    target = GOLDEN[url]
    assert build_callback_url("https://cb.example", "golden-secret", target) == url
    items = parse_qsl(urlsplit(url).query)
    assert verify_callback_params(target.mode, items, ["golden-secret"], now=time.time()) == target


@pytest.mark.parametrize("mode", list(Mode))
def test_traceparent_round_trips_and_is_signed(mode: Mode) -> None:
    target = _target(mode, traceparent=TRACEPARENT)
    url = build_callback_url("http://cb", "s3cret", target)
    assert _params(url)["traceparent"] == TRACEPARENT
    items = parse_qsl(urlsplit(url).query)
    assert verify_callback_params(mode, items, ["s3cret"], now=time.time()) == target
    # Another trace's context cannot be swapped in, nor the signed one dropped.
    other = TRACEPARENT.replace("b7ad6b7169203331", "00f067aa0ba902b7")
    swapped = [(k, other if k == "traceparent" else v) for k, v in items]
    dropped = [(k, v) for k, v in items if k != "traceparent"]
    for tampered in (swapped, dropped):
        with pytest.raises(CallbackUrlError, match="signature"):
            verify_callback_params(mode, tampered, ["s3cret"], now=time.time())


@pytest.mark.parametrize("mode", list(Mode))
def test_traceparent_and_sender_together_are_both_signed(mode: Mode) -> None:
    target = _target(mode, traceparent=TRACEPARENT, sender="acme")
    items = parse_qsl(urlsplit(build_callback_url("http://cb", "s3cret", target)).query)
    assert verify_callback_params(mode, items, ["s3cret"], now=time.time()) == target
    for name in ("traceparent", "snd"):
        dropped = [(k, v) for k, v in items if k != name]
        with pytest.raises(CallbackUrlError, match="signature"):
            verify_callback_params(mode, dropped, ["s3cret"], now=time.time())


def test_traceparent_cannot_be_added_to_a_url_signed_without_one() -> None:
    items = parse_qsl(urlsplit(build_callback_url("http://cb", "s3cret", _target(Mode.SIGNAL))).query)
    with pytest.raises(CallbackUrlError, match="signature"):
        verify_callback_params(Mode.SIGNAL, [*items, ("traceparent", TRACEPARENT)], ["s3cret"], now=time.time())


def test_only_a_w3c_traceparent_is_signed() -> None:
    with pytest.raises(ValueError, match="traceparent"):
        build_callback_url("http://cb", "s3cret", _target(Mode.SIGNAL, traceparent="not-a-traceparent"))


def test_expired_urls_say_so_for_metrics() -> None:
    url = build_callback_url("http://cb", "s3cret", _target(Mode.SIGNAL, expires_at=int(time.time()) - 1))
    with pytest.raises(CallbackUrlError) as caught:
        verify_callback_params(Mode.SIGNAL, parse_qsl(urlsplit(url).query), ["s3cret"], now=time.time())
    assert (caught.value.code, caught.value.reason) == ("bad_signature", "expired")
