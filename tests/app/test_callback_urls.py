"""Signed callback URLs: round trip, rotation, tampering, expiry, awkward task tokens."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.callback_urls import (
    CallbackTarget,
    CallbackUrlError,
    build_callback_url,
    decode_token,
    encode_token,
    verify_callback_params,
)
from app.gate_types import Mode

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
    assert verify_callback_params(mode, _params(url), ["s1"], now=time.time()) == target


def test_rotation_accepts_any_listed_secret() -> None:
    url = build_callback_url("http://cb", "old", _target())
    assert verify_callback_params(Mode.TOKEN, _params(url), ["new", "old"], now=time.time()).stage == 2
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, _params(url), ["new"], now=time.time())


@pytest.mark.parametrize(("field", "value"), [("stage", "3"), ("wf", "other"), ("attempt", "2"), ("exp", "9999999999")])
def test_tampering_is_rejected(field: str, value: str) -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    params[field] = value
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, params, ["s"], now=time.time())


def test_token_swap_is_rejected() -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    params["token"] = encode_token(b"another activity")
    with pytest.raises(CallbackUrlError, match="signature does not match"):
        verify_callback_params(Mode.TOKEN, params, ["s"], now=time.time())


def test_signal_url_is_not_valid_on_token_route() -> None:
    params = _params(build_callback_url("http://cb", "s", _target(Mode.SIGNAL)))
    with pytest.raises(CallbackUrlError, match="'token' is missing"):
        verify_callback_params(Mode.TOKEN, params, ["s"], now=time.time())


def test_expired() -> None:
    url = build_callback_url("http://cb", "s", _target(expires_at=100))
    with pytest.raises(CallbackUrlError, match="expired"):
        verify_callback_params(Mode.TOKEN, _params(url), ["s"], now=101)


def test_missing_and_malformed() -> None:
    params = _params(build_callback_url("http://cb", "s", _target()))
    for name in ("sig", "wf", "stage", "exp"):
        broken = {k: v for k, v in params.items() if k != name}
        with pytest.raises(CallbackUrlError) as info:
            verify_callback_params(Mode.TOKEN, broken, ["s"], now=time.time())
        assert info.value.missing
    with pytest.raises(CallbackUrlError, match="must be an integer"):
        verify_callback_params(Mode.TOKEN, {**params, "stage": "two"}, ["s"], now=time.time())
