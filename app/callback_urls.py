"""Signed callback URLs: built by the activities, verified by the callback server before Temporal is touched."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from app.payloads import Mode

SIGNAL_PATH = "/callbacks/signal"
TOKEN_PATH = "/callbacks/token"  # noqa: S105  # a URL path, not a secret


class CallbackUrlError(Exception):
    """A callback URL is missing parameters, badly signed or expired."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


@dataclass(frozen=True)
class CallbackTarget:
    """What a callback URL points at. `task_token` is set in token mode only."""

    mode: Mode
    workflow_id: str
    stage: int
    attempt: int
    expires_at: int
    task_token: bytes | None = None


def encode_token(token: bytes) -> str:
    """URL-safe base64 without padding: raw tokens hold bytes that plain base64 turns into `+`, `/`, `=`."""
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def decode_token(text: str) -> bytes:
    """Inverse of `encode_token`; raises CallbackUrlError on garbage."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CallbackUrlError("token is not URL-safe base64") from exc


def _canonical(target: CallbackTarget) -> bytes:
    token = encode_token(target.task_token) if target.task_token is not None else ""
    fields = ("v1", target.mode.value, target.workflow_id, str(target.stage), str(target.attempt), token)
    return "\n".join((*fields, str(target.expires_at))).encode()


def _sign(secret: str, target: CallbackTarget) -> str:
    digest = hmac.new(secret.encode(), _canonical(target), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def build_callback_url(base_url: str, secret: str, target: CallbackTarget) -> str:
    """The URL handed to the external service, signed with the current (first) secret."""
    params: dict[str, str] = {
        "wf": target.workflow_id,
        "stage": str(target.stage),
        "attempt": str(target.attempt),
    }
    if target.task_token is not None:
        params["token"] = encode_token(target.task_token)
    params["exp"] = str(target.expires_at)
    params["sig"] = _sign(secret, target)
    path = TOKEN_PATH if target.mode is Mode.TOKEN else SIGNAL_PATH
    return f"{base_url.rstrip('/')}{path}?{urlencode(params)}"


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise CallbackUrlError(f"query parameter {name!r} is missing", missing=True)
    return value


def _positive_int(params: Mapping[str, str], name: str) -> int:
    raw = _required(params, name)
    try:
        value = int(raw)
    except ValueError as exc:
        raise CallbackUrlError(f"query parameter {name!r} must be an integer") from exc
    if value < 0:
        raise CallbackUrlError(f"query parameter {name!r} must not be negative")
    return value


def verify_callback_params(
    mode: Mode, params: Mapping[str, str], secrets: Sequence[str], *, now: float
) -> CallbackTarget:
    """Check signature and expiry of a callback's query parameters; return what they point at."""
    sig = _required(params, "sig")
    target = CallbackTarget(
        mode=mode,
        workflow_id=_required(params, "wf"),
        stage=_positive_int(params, "stage"),
        attempt=_positive_int(params, "attempt"),
        expires_at=_positive_int(params, "exp"),
        task_token=decode_token(_required(params, "token")) if mode is Mode.TOKEN else None,
    )
    if not any(hmac.compare_digest(sig, _sign(secret, target)) for secret in secrets):
        raise CallbackUrlError("signature does not match")
    if target.expires_at < now:
        raise CallbackUrlError("callback URL has expired")
    return target
