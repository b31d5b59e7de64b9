"""Hostile input to the callback server: every answer is a JSON 4xx (never a 5xx), over ASGI on the test's loop.

The signed URLs point at workflows that do not exist, so a callback that gets past every check reaches the
session's real dev server and comes back as `404 workflow_not_found` (token mode: a 4xx for the garbage token).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import structlog
from temporalio.client import Client

from app.callbacks.forwarding import Forwarded
from app.callbacks.modes.registry import SPECS
from app.callbacks.server import create_app
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import Settings
from tests.asgi import asgi_client

ERROR_CODES_OK = {"invalid_json", "invalid_body", "workflow_not_found", "activity_not_open", "rejected_by_temporal"}


def _target(mode: Mode, workflow_id: str | None = None, **kw: Any) -> CallbackTarget:
    fields: dict[str, Any] = {
        "mode": mode,
        "workflow_id": workflow_id or f"hostile-{uuid.uuid4().hex[:12]}",
        "stage": 1,
        "attempt": 1,
        "expires_at": int(time.time()) + 300,
        "task_token": b"\x01\x02not-a-real-token" if mode is Mode.TOKEN else None,
    }
    fields.update(kw)
    return CallbackTarget(**fields)


def _path(settings: Settings, target: CallbackTarget) -> str:
    parts = urlsplit(build_callback_url("http://test", settings.signing_secrets[0], target))
    return f"{parts.path}?{parts.query}"


def _forged_path(settings: Settings, target: CallbackTarget) -> str:
    """A validly signed URL that `build_callback_url` refuses to make (an over-long workflow ID).

    It stands for a URL signed by another signer that holds our secret (an older release, another language).
    """
    from app.gate.callback_urls import _sign, callback_path, encode_token

    params = {"wf": target.workflow_id, "stage": str(target.stage), "attempt": str(target.attempt)}
    if target.task_token is not None:
        params["token"] = encode_token(target.task_token)
    params["exp"] = str(target.expires_at)
    params["sig"] = encode_token(_sign(settings.signing_secrets[0], target.mode, params))
    return f"{callback_path(target.mode)}?{urlencode(params)}"


def _nested(depth: int) -> bytes:
    """A callback whose `result` is `depth` levels deep; past 1000 levels as arrays, to stay under 64 KiB."""
    if depth > 1000:
        return b'{"result": {"a": ' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}}"
    return b'{"status": "completed", "result": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


@pytest.fixture
async def http(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(settings, client=client)) as c:
        yield c


def _assert_json_4xx(r: httpx.Response, *, status: int | None = None, code: str | None = None) -> dict[str, Any]:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "message", "status_code"}, body
    assert body["status_code"] == r.status_code
    if status is not None:
        assert r.status_code == status, body
    if code is not None:
        assert body["error"] == code, body
    return body


@pytest.mark.parametrize("mode", list(Mode))
async def test_invalid_utf8_inside_a_json_string_is_400(
    http: httpx.AsyncClient, settings: Settings, mode: Mode
) -> None:
    for raw in (
        b'{"status": "failed", "error": "\xff"}',
        b'{"callback_id": "caf\xc3"}',
        b'{"result": {"\xed\xa0\x80": 1}}',
    ):
        r = await http.post(_path(settings, _target(mode)), content=raw, headers={"content-type": "application/json"})
        body = _assert_json_4xx(r, status=400, code="invalid_json")
        assert "UTF-8" in body["message"]


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("depth", [33, 500, 30_000])
async def test_deeply_nested_result_is_400(http: httpx.AsyncClient, settings: Settings, mode: Mode, depth: int) -> None:
    r = await http.post(_path(settings, _target(mode)), content=_nested(depth))
    body = _assert_json_4xx(r, status=400, code="invalid_body")
    assert "nested" in body["message"]
    assert "32" in body["message"]


async def test_result_at_the_depth_limit_gets_through(http: httpx.AsyncClient, settings: Settings) -> None:
    r = await http.post(_path(settings, _target(Mode.SIGNAL)), content=_nested(32))
    _assert_json_4xx(r, status=404, code="workflow_not_found")  # past every check, to Temporal and back


async def test_oversize_result_is_400(http: httpx.AsyncClient, settings: Settings, client: Client) -> None:
    small = replace(settings, callback_max_result_bytes=1000)
    async with asgi_client(create_app(small, client=client)) as c:
        r = await c.post(_path(small, _target(Mode.SIGNAL)), json={"result": {"blob": "x" * 1000}})
        body = _assert_json_4xx(r, status=400, code="invalid_body")
        assert "1000 bytes" in body["message"]
        r = await c.post(_path(small, _target(Mode.SIGNAL)), json={"result": {"blob": "x" * 900}})
        _assert_json_4xx(r, status=404, code="workflow_not_found")


@pytest.mark.parametrize("mode", list(Mode))
async def test_validly_signed_overlong_workflow_id_is_400(
    http: httpx.AsyncClient, settings: Settings, mode: Mode
) -> None:
    for workflow_id in ("w" * 8000, "w" * 1001, "é" * 501):  # Temporal counts bytes (Go's len)
        r = await http.post(_forged_path(settings, _target(mode, workflow_id)), json={})
        body = _assert_json_4xx(r, status=400, code="workflow_id_too_long")
        assert "1000" in body["message"]


async def test_workflow_id_at_the_limit_reaches_temporal(http: httpx.AsyncClient, settings: Settings) -> None:
    r = await http.post(_path(settings, _target(Mode.SIGNAL, "w" * 1000)), json={})
    _assert_json_4xx(r, status=404, code="workflow_not_found")


def test_signing_refuses_an_overlong_workflow_id(settings: Settings) -> None:
    with pytest.raises(ValueError, match="1000"):
        build_callback_url("http://x", settings.signing_secrets[0], _target(Mode.SIGNAL, "w" * 1001))


@pytest.mark.parametrize("sig", ["é" * 43, "\u0661" * 43, "😀"])
async def test_non_ascii_signature_is_403(http: httpx.AsyncClient, settings: Settings, sig: str) -> None:
    path = _path(settings, _target(Mode.SIGNAL))
    head, _, _ = path.partition("&sig=")
    r = await http.post(f"{head}&{urlencode({'sig': sig})}", json={})
    _assert_json_4xx(r, status=403, code="bad_signature")


async def test_too_many_query_parameters_is_400(http: httpx.AsyncClient, settings: Settings) -> None:
    path = _path(settings, _target(Mode.SIGNAL))
    extra = "&".join(f"utm_{i}=x" for i in range(16))  # 5 of ours + 16 foreign = 21
    body = _assert_json_4xx(await http.post(f"{path}&{extra}", json={}), status=400, code="too_many_parameters")
    assert "20" in body["message"]
    # 20 in all still gets through (foreign parameters are ignored, not counted against the signature).
    extra = "&".join(f"utm_{i}=x" for i in range(15))
    _assert_json_4xx(await http.post(f"{path}&{extra}", json={}), status=404, code="workflow_not_found")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"progress": 99999999999999999999999}', "invalid_body"),  # fits no int64 anywhere
        (b'{"progress": -1}', "invalid_body"),
        (b'{"progress": 1e400}', "invalid_body"),
        (b'{"progress": "3"}', "invalid_body"),
        (b'{"result": {"n": 99999999999999999999999999}}', "invalid_body"),
        (b'{"result": {"n": 1e400}}', "invalid_body"),
        (b'{"result": {"n": NaN}}', "invalid_json"),
        (b'{"result": {"n": Infinity}}', "invalid_json"),
        (b'{"result": [1, 2]}', "invalid_body"),
        (b'{"callback_id": 7}', "invalid_body"),
        (b'{"callback_id": "' + b"c" * 300 + b'"}', "invalid_body"),
        (b'{"status": null}', "invalid_body"),
        (b"[]", "invalid_body"),
        (b"null", "invalid_body"),
        (b'"completed"', "invalid_body"),
        (b"\xff\xfe\x00", "invalid_json"),
        (b'{"status": "completed"', "invalid_json"),
    ],
)
@pytest.mark.parametrize("mode", list(Mode))
async def test_wrong_json_is_400(
    http: httpx.AsyncClient, settings: Settings, mode: Mode, raw: bytes, code: str
) -> None:
    r = await http.post(_path(settings, _target(mode)), content=raw)
    _assert_json_4xx(r, status=400, code=code)


async def test_duplicate_keys_last_one_wins_and_no_5xx(http: httpx.AsyncClient, settings: Settings) -> None:
    raw = b'{"status": "failed", "status": "completed", "result": {"a": 1, "a": 2}}'
    r = await http.post(_path(settings, _target(Mode.SIGNAL)), content=raw)
    _assert_json_4xx(r, status=404, code="workflow_not_found")


@pytest.mark.parametrize(
    "query",
    [
        "wf=%ff%fe&stage=1&attempt=1&exp=9999999999&sig=x",
        "wf=%ed%a0%80&stage=1&attempt=1&exp=9999999999&sig=x",  # a UTF-8-encoded lone surrogate
        "wf=a&stage=%00&attempt=1&exp=9999999999&sig=x",
        "wf=a&stage=1&attempt=1&exp=99999999999999999999999999999&sig=x",
        "wf=a&stage=1&attempt=1&exp=9999999999&sig=" + "A" * 10_000,
        "wf=a&wf=b&stage=1&attempt=1&exp=9999999999&sig=x",
        "%ff=1&wf=a&stage=1&attempt=1&exp=9999999999&sig=x",
        "&&&=&==&wf",
    ],
)
async def test_garbage_query_strings_are_4xx(http: httpx.AsyncClient, query: str) -> None:
    for mode in Mode:
        _assert_json_4xx(await http.post(f"/callbacks/{mode.value}?{query}", json={}))


async def test_unexpected_exception_is_logged_with_traceback_and_a_json_500(
    settings: Settings, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*_: object, **__: object) -> Forwarded:
        raise RuntimeError("a bug in a mode's forwarding")

    monkeypatch.setitem(SPECS, Mode.SIGNAL, replace(SPECS[Mode.SIGNAL], forward=boom))
    async with asgi_client(create_app(settings, client=client)) as c:
        with structlog.testing.capture_logs() as logs:
            r = await c.post(_path(settings, _target(Mode.SIGNAL)), json={})
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal_error",
        "message": "the callback server hit an unexpected error; it has been logged",
        "status_code": 500,
    }
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1, logs
    assert errors[0]["event"] == "unexpected error in the callback server"
    assert isinstance(errors[0]["exc_info"], RuntimeError)
    assert errors[0]["path"] == "/callbacks/signal"


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(10 if depth < 40 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 2**63, -(2**63) - 1, 10**30, rng.randrange(-(10**6), 10**6)])
    if pick == 3:
        return rng.choice([0.5, -0.0, 1e308, 5e-324, rng.random()])
    if pick == 4:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x10FFFF)])) for _ in range(8))
    if pick == 5:
        return rng.choice(["completed", "failed", "cancelled", "progress", "", "x" * 300])
    if pick in (6, 7):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = ["status", "callback_id", "result", "error", "progress", "sent_at", "stage", "extra"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def _random_body(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))
    if kind == 1:  # valid JSON, then a byte flipped or cut short
        raw = bytearray(json.dumps(_random_json(rng)).encode())  # ASCII: lone surrogates come out escaped
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw[: rng.randrange(len(raw) + 1)])
    if kind == 2:  # literals JSON does not have, duplicate keys
        lit = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"9" * 400, b"1" * 5000])
        field = rng.choice([b"progress", b"result", b"error", b"callback_id"])
        return b'{"' + field + b'": ' + lit + b', "' + field + b'": ' + lit + b"}"
    if kind == 3:  # deep nesting of either bracket
        depth = rng.choice([31, 32, 33, 100, 3000])
        opener, closer = rng.choice([(b"[", b"]"), (b'{"k":', b"}")])
        return b'{"result": {"k": ' + opener * depth + b"0" + closer * depth + b"}}"
    # Not ASCII-escaped, a lone surrogate becomes bytes that are not UTF-8 (what a buggy sender might post).
    return json.dumps(_random_json(rng), ensure_ascii=rng.choice([True, False])).encode("utf-8", "surrogatepass")


async def test_quick_fuzz_never_gets_a_5xx(http: httpx.AsyncClient, settings: Settings) -> None:
    rng = random.Random(20240610)  # fixed seed: a failure is reproducible; the case is in the assertion
    paths = {mode: _path(settings, _target(mode)) for mode in Mode}
    seen: dict[int, int] = {}
    for i in range(240):
        mode = list(Mode)[i % 3]
        raw = _random_body(rng)
        r = await http.post(paths[mode], content=raw)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (mode, raw[:200], r.status_code, r.text[:300])
        assert r.json()["error"] in ERROR_CODES_OK, (mode, raw[:200], r.text[:300])
    assert seen.get(400, 0) > 50, seen  # most random bodies are refused before Temporal is touched
