"""Twenty classes of hostile callback, each a builder of one request aimed at a real run's callback URL.

Used by `scripts/reliability/hostile.py`. The attacker is assumed to hold as much as each class needs: a leaked
URL (bodies), the URL secret (forged signers: non-canonical forms, over-long IDs), the sender's body key
(garbage that is validly signed), or nothing at all. Every class but the replay must be refused with a 4xx
and leave the run untouched; a replayed `webhook-id` may be taken once, never twice.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from app.callbacks.signatures.standard_webhooks import parse_key, signature_headers
from app.gate.callback_urls import sign_query
from app.gate.types import Mode

T = TypeVar("T")
JSON = {"content-type": "application/json"}
REPLAY = "replayed_webhook_id"


@dataclass(frozen=True)
class Target:
    """A real run's stage-1 callback URL, as the service received it, split into what a builder changes."""

    mode: Mode
    path: str
    params: dict[str, str]

    @classmethod
    def from_url(cls, mode: Mode, url: str) -> Target:
        parts = urlsplit(url)
        return cls(mode=mode, path=parts.path, params=dict(parse_qsl(parts.query, keep_blank_values=True)))


@dataclass(frozen=True)
class Keys:
    """What the attacker may hold: the URL secret and the sender's body-signature key (`whsec_...`)."""

    url_secret: str
    sender_key: str


@dataclass(frozen=True)
class HostileRequest:
    """One POST: path plus raw query string, headers, body."""

    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Builder = Callable[[Target, Keys, random.Random, int], HostileRequest]


def _signed(target: Target, keys: Keys, **changes: str | None) -> list[tuple[str, str]]:
    """The target's parameters with `changes` (None drops one), re-signed with the URL secret."""
    params = {k: v for k, v in target.params.items() if k != "sig"}
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return [*params.items(), ("sig", sign_query(keys.url_secret, target.mode, params))]


def _request(target: Target, pairs: list[tuple[str, str]], headers: dict[str, str], body: bytes) -> HostileRequest:
    return HostileRequest(path=target.path, query=urlencode(pairs), headers=headers, body=body)


def _as_sender(target: Target, keys: Keys, body: bytes, *, content_type: str = "application/json") -> HostileRequest:
    """Garbage the sender's own key signed: the body signature passes, the body checks must refuse it."""
    headers = {"content-type": content_type, **_body_signature(keys, body)}
    return _request(target, list(target.params.items()), headers, body)


def _body_signature(keys: Keys, body: bytes, *, ts: int | None = None, wid: str | None = None) -> dict[str, str]:
    when = int(time.time()) if ts is None else ts
    return signature_headers([parse_key(keys.sender_key)], wid or f"msg_{uuid.uuid4().hex}", when, body)


def _pick(rng: random.Random, options: list[T]) -> T:
    return options[rng.randrange(len(options))]


# --- the URL ---------------------------------------------------------------------------------------------


def forged_url_signature(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    fakes = [
        "A" * 43,
        "".join(rng.choice("abcdefXYZ0123_-") for _ in range(43)),
        "é" * 43,
        "",
        target.params["sig"][:-1],
    ]
    pairs = [(k, v) for k, v in target.params.items() if k != "sig"] + [("sig", fakes[i % len(fakes)])]
    return _request(target, pairs, JSON, b'{"status": "failed"}')


def wrong_secret(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    other = Keys(url_secret=f"guess-{rng.random()}", sender_key=keys.sender_key)
    return _request(target, _signed(target, other), JSON, b'{"status": "failed"}')


def expired_url(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    past = str(int(time.time()) - 1 - rng.randrange(10**6))
    return _request(target, _signed(target, keys, exp=past), JSON, b'{"status": "failed"}')


def tampered_url_stage(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    # Token-mode URLs name their activity (v8tok): every other try points one at another activity of the same run
    # (the stage's reconcile, say), which exists; only the signature stands in the way.
    name = "act" if "act" in target.params and i % 2 else "stage"
    pairs = [(k, str(2 + i) if k == name else v) for k, v in target.params.items()]
    return _request(target, pairs, JSON, b'{"status": "failed"}')


def noncanonical_numbers(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    # Fullwidth and Arabic-Indic digits: int() takes them, a canonical check must not.
    forms = ["01", "+1", " 1", "1 ", "\uff11", "\u0661", "1.0", "0x1", "1_0"]
    name = _pick(rng, ["stage", "attempt"])
    return _request(target, _signed(target, keys, **{name: forms[i % len(forms)]}), JSON, b'{"status": "failed"}')


def repeated_parameters(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    name = _pick(rng, ["stage", "wf", "sig", "exp", "snd"])
    first = [(name, "2" if name == "stage" else f"x{i}")]
    return _request(target, first + list(target.params.items()), JSON, b'{"status": "failed"}')


def padded_token(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    token = target.params.get("token", "AAAA")
    forms = [token + "=", token + "==", token.replace("-", "+").replace("_", "/"), token + " ", token + "%3D"]
    return _request(target, _signed(target, keys, token=forms[i % len(forms)]), JSON, b'{"status": "failed"}')


def too_many_parameters(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    extra = [(f"utm_{n}", "x") for n in range(20 + i % 50)]
    return _request(target, list(target.params.items()) + extra, JSON, b'{"status": "failed"}')


def long_workflow_id(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    wf = _pick(rng, ["w" * 8000, "é" * 501, "w" * 1001, "\U0001f600" * 251])
    return _request(target, _signed(target, keys, wf=wf), JSON, b'{"status": "failed"}')


# --- the body (validly signed by the sender's key, so it reaches the body checks) --------------------------


def invalid_utf8_body(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    bad = _pick(rng, [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"])
    return _as_sender(target, keys, b'{"status": "failed", "error": "' + bad + b'"}')


def deep_json(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    depth = _pick(rng, [33, 100, 1000, 5000, 20000])
    nested = '{"a": ' * depth + "1" + "}" * depth
    return _as_sender(target, keys, f'{{"status": "completed", "result": {nested}}}'.encode())


def huge_body(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    size = _pick(rng, [65 * 1024, 200 * 1024, 1024 * 1024])
    return _as_sender(target, keys, json.dumps({"status": "completed", "error": "x" * size}).encode())


def huge_result(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    result = {"blob": "x" * (33 * 1024 + i)}
    return _as_sender(target, keys, json.dumps({"status": "completed", "result": result}).encode())


def bad_json(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    bodies = [b"{not json", b'{"status": "completed"} trailing', b"NaN", b'{"result": {"x": NaN}}', b"[", b"\x00"]
    return _as_sender(target, keys, bodies[i % len(bodies)])


def wrong_content_type(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    kinds = [
        ("application/x-www-form-urlencoded", b"status=failed&error=x"),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data; name=status\r\n\r\nfailed\r\n--b--",
        ),
        ("text/xml", b"<callback><status>failed</status></callback>"),
        ("application/msgpack", b"\x81\xa6status\xa6failed"),
    ]
    content_type, body = kinds[i % len(kinds)]
    return _as_sender(target, keys, body, content_type=content_type)


def invalid_fields(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    bodies = [
        {"status": "finished"},
        {"status": "completed", "progress": -1},
        {"status": "progress", "progress": 2**40},
        {"status": "completed", "result": [1, 2]},
        {"status": "completed", "result": {"n": 2**70}},
        {"status": "completed", "callback_id": "c" * 300},
        {"status": 1},
    ]
    return _as_sender(target, keys, json.dumps(bodies[i % len(bodies)]).encode())


# --- the body signature ------------------------------------------------------------------------------------


def forged_body_signature(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    body = b'{"status": "failed"}'
    stranger = Keys(url_secret=keys.url_secret, sender_key="whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ==")
    variants = [
        _body_signature(stranger, body),
        {**_body_signature(keys, body), "webhook-timestamp": f"0{int(time.time())}"},
        {**_body_signature(keys, body), "webhook-signature": "v1,not-base64!"},
        {**_body_signature(keys, body), "webhook-signature": " ".join(["v1,AAAA"] * 11)},
        {**_body_signature(keys, body), "webhook-id": "id with spaces"},
        {},
    ]
    headers = {**JSON, **variants[i % len(variants)]}
    return _request(target, list(target.params.items()), headers, body)


def tampered_body(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    signed_for = b'{"status": "progress"}'
    headers = {**JSON, **_body_signature(keys, signed_for)}
    return _request(target, list(target.params.items()), headers, b'{"status": "failed"}')


def stale_body_signature(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    body = b'{"status": "failed"}'
    offset = _pick(rng, [-301 - rng.randrange(10**5), 301 + rng.randrange(10**5)])
    headers = {**JSON, **_body_signature(keys, body, ts=int(time.time()) + offset)}
    return _request(target, list(target.params.items()), headers, body)


def replayed_webhook_id(target: Target, keys: Keys, rng: random.Random, i: int) -> HostileRequest:
    """The same signed progress message (one webhook-id per target) again and again: taken at most once."""
    body = b'{"status": "progress"}'
    wid = f"replay-{target.params['wf']}"
    return _request(target, list(target.params.items()), {**JSON, **_body_signature(keys, body, wid=wid)}, body)


CLASSES: dict[str, Builder] = {
    builder.__name__: builder
    for builder in (
        forged_url_signature,
        wrong_secret,
        expired_url,
        tampered_url_stage,
        noncanonical_numbers,
        repeated_parameters,
        padded_token,
        too_many_parameters,
        long_workflow_id,
        invalid_utf8_body,
        deep_json,
        huge_body,
        huge_result,
        bad_json,
        wrong_content_type,
        invalid_fields,
        forged_body_signature,
        tampered_body,
        stale_body_signature,
        replayed_webhook_id,
    )
}
# Classes that only make sense against some modes: token-mode URLs carry the token; token-mode progress is a
# heartbeat (not deduplicated by design, and not a stage advance), so replays aim at signal and update runs.
MODES: dict[str, tuple[Mode, ...]] = {"padded_token": (Mode.TOKEN,), REPLAY: (Mode.SIGNAL, Mode.UPDATE)}
