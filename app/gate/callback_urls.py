"""Signed callback URLs: built for stage activities, verified by the callback server before Temporal is touched.

The signature covers the exact text of every parameter as sent (no re-parsing before the check), and only
canonical forms verify: `stage=01`, a padded token or a repeated parameter is refused, not normalised.

With tracing on, the URL also carries the stage's W3C `traceparent`, so a service that forwards no trace headers
still brings the callback back into the stage's trace. It is signed when present; URLs without it sign exactly
the bytes they always did, so URLs handed out before keep verifying.

Token mode, since v8tok: the URL names the activity by its workflow run ID and activity ID (`run`, `act`, signed
under a `v3` canonical form), and the callback server completes the activity's CURRENT attempt, so a URL handed
out by attempt 1 still completes the stage after the activity was retried. Older token URLs carry the attempt's
task token (`token`, the `v2` form); they keep verifying byte for byte and complete by that token until their runs
end. A token URL carries one of the two, never both.

An optional signed `snd` names the sender whose callbacks must also carry a Standard Webhooks body signature
(`app/callbacks/signatures/standard_webhooks.py`): a URL seen in a proxy log is then no use without that sender's key.
An optional signed `shp` carries the stage's callback shape (`app/gate/shapes.py`): how the service's own body reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from app.errors import (
    CallbackUrlError,
    CallbackUrlMissingParameterError,
    CallbackUrlOverLimitError,
    InvalidCallbackError,
    ShapeError,
)
from app.gate.rules import parse_stage_key, stage_id
from app.gate.shapes import CallbackShape, decode_shape, encode_shape
from app.gate.trace_context import is_traceparent
from app.gate.types import Mode, StageKey
from app.runtime.config import SENDER_NAME

CALLBACK_PATH_PREFIX = "/callbacks/"
_SIGNED = ("wf", "stage", "attempt", "token", "exp")
# Token mode since v8tok: the activity by IDs instead of its attempt's task token (a `v3` canonical form of its own).
_BY_ID = ("wf", "stage", "attempt", "run", "act", "exp")
_RUN = "run"
_ACT = "act"
# Signed only when present (appended to the canonical bytes, each under its name), so URLs without them verify
# as before.
_TRACEPARENT = "traceparent"
_SENDER = "snd"  # optional and signed; absent from older URLs, whose signed bytes stay what they were
_SHAPE = "shp"  # the stage's callback shape (app/gate/shapes.py); optional and signed, like `snd`
_ALLOWED = frozenset(
    (*_SIGNED, _RUN, _ACT, _TRACEPARENT, _SENDER, _SHAPE, "sig")
)  # Temporal's default `limit.maxIDLength`: the server counts a workflow ID's UTF-8 bytes (Go's `len`).
MAX_WORKFLOW_ID_BYTES = 1000
# Ours are five or six; the rest is room for what proxies and trackers append (all of them are counted).
MAX_QUERY_PARAMS = 20


def callback_path(mode: Mode) -> str:
    """The callback server's route for a mode: `/callbacks/<mode>`."""
    return f"{CALLBACK_PATH_PREFIX}{mode.value}"


@dataclass(frozen=True)
class CallbackTarget:
    """What a callback URL points at.

    Token mode only: `run_id` + `activity_id` (URLs since v8tok), or `task_token` (older URLs), never both.
    """

    mode: Mode
    workflow_id: str
    stage: StageKey
    attempt: int  # the attempt that made the URL (by IDs, a later attempt may be the one completed)
    expires_at: int
    task_token: bytes | None = None
    # The W3C traceparent of the span that built the URL (tracing on), else None.
    traceparent: str | None = None
    # The sender whose body signature this URL demands (None: the URL alone authenticates the callback).
    sender: str | None = None
    # How the service's own callback body reads (None: stagegate's own body).
    shape: CallbackShape | None = None
    # Token mode since v8tok: the workflow run and the activity the callback completes (whatever its attempt).
    run_id: str | None = None
    activity_id: str | None = None


def encode_token(token: bytes) -> str:
    """URL-safe base64 without padding: raw tokens hold bytes that plain base64 turns into `+`, `/`, `=`."""
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def decode_token(text: str) -> bytes:
    """Inverse of `encode_token` for canonical text only; raises CallbackUrlError on anything else."""
    try:
        token = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CallbackUrlError("token is not URL-safe base64") from exc
    if not token or encode_token(token) != text:
        raise CallbackUrlError("token is not canonical URL-safe base64 (no padding, no other characters)")
    return token


def _check_workflow_id(workflow_id: str) -> str | None:
    """Why this workflow ID cannot be in a callback URL, or None."""
    size = len(workflow_id.encode("utf-8", errors="surrogatepass"))
    if size > MAX_WORKFLOW_ID_BYTES:
        return f"workflow ID is {size} bytes long; Temporal's limit (and ours) is {MAX_WORKFLOW_ID_BYTES} bytes"
    return None


def _params(target: CallbackTarget) -> dict[str, str]:
    problem = _check_workflow_id(target.workflow_id)
    if problem is not None:
        raise ValueError(f"cannot sign a callback URL: {problem}")
    params = {"wf": target.workflow_id, "stage": stage_id(target.stage), "attempt": str(target.attempt)}
    ids = (target.run_id, target.activity_id)
    if target.mode is not Mode.TOKEN:
        if target.task_token is not None or ids != (None, None):
            raise ValueError(f"cannot sign a {target.mode.value}-mode callback URL with a task token or activity IDs")
    elif target.task_token is not None:
        if ids != (None, None):
            raise ValueError("cannot sign a token-mode callback URL with both a task token and activity IDs")
        params["token"] = encode_token(target.task_token)
    elif target.run_id and target.activity_id:
        params[_RUN] = target.run_id
        params[_ACT] = target.activity_id
    else:
        raise ValueError("cannot sign a token-mode callback URL without its run ID and activity ID")
    params["exp"] = str(target.expires_at)
    if target.traceparent is not None:
        if not is_traceparent(target.traceparent):
            raise ValueError(f"cannot sign a callback URL: {target.traceparent!r} is not a W3C traceparent")
        params[_TRACEPARENT] = target.traceparent
    if target.sender is not None:
        if not SENDER_NAME.fullmatch(target.sender):
            raise ValueError(f"cannot sign a callback URL: sender name {target.sender!r} is not [A-Za-z0-9_-]{{1,64}}")
        params[_SENDER] = target.sender
    if target.shape is not None:
        params[_SHAPE] = encode_shape(target.shape)
    return params


def _canonical(mode: Mode, params: dict[str, str]) -> bytes:
    # Length-prefixed fields: no value can shift bytes into its neighbour. A URL by activity IDs signs a `v3` form
    # of its own; every other URL the `v2` form it always did.
    if _RUN in params or _ACT in params:
        parts = ["v3", mode.value, *(params.get(name, "") for name in _BY_ID)]
    else:
        parts = ["v2", mode.value, *(params.get(name, "") for name in _SIGNED)]
    if params.get(_TRACEPARENT):
        # Named, and only when present: a URL without it signs the same bytes as before it existed.
        parts += [_TRACEPARENT, params[_TRACEPARENT]]
    if _SENDER in params:
        parts += [_SENDER, params[_SENDER]]  # appended only when present: a URL without it signs as before
    if _SHAPE in params:
        parts += [_SHAPE, params[_SHAPE]]  # the same: URLs without a shape sign the bytes they always did
    return b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts)


def _sign(secret: str, mode: Mode, params: dict[str, str]) -> bytes:
    return hmac.new(secret.encode(), _canonical(mode, params), hashlib.sha256).digest()


def sign_query(secret: str, mode: Mode, params: Mapping[str, str]) -> str:
    """The `sig` for these parameter texts exactly as given (tools that probe the verifier sign odd forms too)."""
    return encode_token(_sign(secret, mode, dict(params)))


@dataclass(frozen=True)
class CallbackSigner:
    """Builds signed callback URLs: the base URL the services reach us at, and the signing secret."""

    base_url: str
    secret: str
    grace_seconds: int = 3600
    # Set when the services this worker's stages call sign their callback bodies as this sender.
    sender: str | None = None

    def url_for(self, target: CallbackTarget) -> str:
        """The URL handed to the external service."""
        if target.sender is None and self.sender is not None:
            target = replace(target, sender=self.sender)
        params = _params(target)
        params["sig"] = encode_token(_sign(self.secret, target.mode, params))
        return f"{self.base_url.rstrip('/')}{callback_path(target.mode)}?{urlencode(params)}"


def build_callback_url(base_url: str, secret: str, target: CallbackTarget) -> str:
    """The URL handed to the external service, signed with `secret`."""
    return CallbackSigner(base_url, secret).url_for(target)


def _single(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in items:
        if name not in _ALLOWED:
            continue  # not ours (a proxy's or a tracker's): never signed, never read
        if name in params:
            raise CallbackUrlError(f"query parameter {name!r} is repeated")
        params[name] = value
    return params


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise CallbackUrlMissingParameterError(f"query parameter {name!r} is missing")
    return value


def _canonical_int(params: dict[str, str], name: str) -> int:
    raw = params[name]
    if not (raw.isascii() and raw.isdigit()) or (raw != "0" and raw.startswith("0")):
        raise CallbackUrlError(f"query parameter {name!r} must be a plain decimal number")
    return int(raw)


def _shape(params: dict[str, str]) -> CallbackShape | None:
    if _SHAPE not in params:
        return None
    try:
        return decode_shape(params[_SHAPE])
    except ShapeError as exc:  # signed, so ours: only a worker of another version could have made it
        raise CallbackUrlError(f"query parameter 'shp': {exc}") from None


def _check_activity_form(mode: Mode, params: dict[str, str]) -> None:
    """Token mode names its activity by `run` + `act` (since v8tok) or by an older URL's `token`; no other mode does."""
    if mode is not Mode.TOKEN:
        for name in ("token", _RUN, _ACT):
            if name in params:
                raise CallbackUrlError(f"query parameter {name!r} only belongs in token-mode URLs")
    elif _RUN in params or _ACT in params:
        if "token" in params:
            raise CallbackUrlError("a token-mode URL carries 'run' and 'act' or a 'token', not both")
        _required(params, _RUN)
        _required(params, _ACT)
    elif "token" in params:
        _required(params, "token")
    else:
        raise CallbackUrlMissingParameterError(
            "query parameters 'run' and 'act' are missing (or 'token', in a URL made before v8tok)"
        )


def verify_callback_params(
    mode: Mode, items: Iterable[tuple[str, str]], secrets: Sequence[str], *, now: float
) -> CallbackTarget:
    """Check limits, signature and expiry of a callback's query parameters (name, value pairs); return the target."""
    pairs = list(items)
    if len(pairs) > MAX_QUERY_PARAMS:
        raise CallbackUrlOverLimitError(f"{len(pairs)} query parameters; at most {MAX_QUERY_PARAMS} are accepted")
    params = _single(pairs)
    for name in ("wf", "stage", "attempt", "exp", "sig"):
        _required(params, name)
    problem = _check_workflow_id(params["wf"])
    if problem is not None:
        raise CallbackUrlOverLimitError(f"query parameter 'wf': {problem}", code="workflow_id_too_long")
    _check_activity_form(mode, params)
    try:
        sig = params["sig"].encode("ascii")
    except UnicodeEncodeError:
        raise CallbackUrlError("signature does not match") from None
    signed = {name: params[name] for name in (*_SIGNED, _RUN, _ACT, _TRACEPARENT, _SENDER, _SHAPE) if name in params}
    if not any(hmac.compare_digest(sig, encode_token(_sign(s, mode, signed)).encode()) for s in secrets):
        raise CallbackUrlError("signature does not match")
    # Signed, so these were made by us; still, refuse anything that is not in our own canonical form.
    if _SENDER in params and not SENDER_NAME.fullmatch(params[_SENDER]):
        raise CallbackUrlError("query parameter 'snd' is not a sender name")
    try:
        stage = parse_stage_key(params["stage"])
    except InvalidCallbackError as exc:
        raise CallbackUrlError(f"query parameter 'stage': {exc}") from exc
    target = CallbackTarget(
        mode=mode,
        workflow_id=params["wf"],
        stage=stage,
        attempt=_canonical_int(params, "attempt"),
        expires_at=_canonical_int(params, "exp"),
        task_token=decode_token(params["token"]) if "token" in params else None,
        traceparent=params.get(_TRACEPARENT) or None,
        sender=params.get(_SENDER),
        shape=_shape(params),
        run_id=params.get(_RUN),
        activity_id=params.get(_ACT),
    )
    if stage_id(stage) != params["stage"]:
        raise CallbackUrlError("query parameter 'stage' is not in canonical form")
    if target.traceparent is not None and not is_traceparent(target.traceparent):
        raise CallbackUrlError("query parameter 'traceparent' is not a W3C traceparent")
    if target.expires_at < now:
        raise CallbackUrlError("callback URL has expired", reason="expired")
    return target
