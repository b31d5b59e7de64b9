"""The callback fast path answers exactly as Litestar's callback routes: same messages, metrics and log lines.

`POST /callbacks/{signal,token,update}` is served by a bare ASGI path in front of Litestar
(app/callbacks/fast_path.py). Each request here is sent twice into the same app: once as a server sends it (the
fast path takes it) and once into Litestar's own entry (`Litestar.__call__`, the routes that document the
callbacks in OpenAPI). The ASGI messages sent back (status, headers in order, body bytes), the change in every
counter and the log events must be the same, and the first must not have touched Litestar. Refusals cover every
layer: the URL, the body (JSON, fields, the size limit on the announced and on the streamed size), Temporal (an
unknown workflow, a garbage token, Temporal down with `Retry-After`), the client leaving mid-body and a bug.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from litestar import Litestar
from prometheus_client import CollectorRegistry
from temporalio.client import Client

from app.callbacks.metrics import CallbackMetrics
from app.callbacks.server import CallbackServer, create_app
from app.demo.payloads import StagedRunInput
from app.gate.types import Mode
from app.runtime.config import Settings
from app.starter import start_staged_run
from tests.app.signed_urls import callback_target, signed_path
from tests.stack import free_port

WAIT_S = 10.0


@dataclass(frozen=True)
class Sent:
    """One request into an ASGI entry: what came back, whether Litestar saw it, the counters' change, the logs."""

    messages: list[dict[str, Any]]
    through_litestar: bool
    counted: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    logged: list[dict[str, Any]]

    @property
    def status(self) -> int:
        status: int = self.messages[0]["status"]
        return status

    @property
    def body(self) -> bytes:
        body: bytes = self.messages[-1]["body"]
        return body


def _counters(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram count (not the timings, which differ between two calls)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name.endswith(("_total", "_count"))
    }


def _delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


async def _send(
    entry: Callable[..., Any],
    metrics: CallbackMetrics,
    path_and_query: str,
    chunks: list[bytes],
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    method: str = "POST",
    disconnect: bool = False,
) -> Sent:
    """Call `entry` as uvicorn would, with the body in `chunks` (and then a disconnect, if asked)."""
    path, _, query = path_and_query.partition("?")
    if headers is None:
        headers = [(b"content-length", str(sum(map(len, chunks))).encode())]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    events: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": disconnect or i < len(chunks) - 1}
        for i, chunk in enumerate(chunks or [b""])  # an empty body is one empty message, as uvicorn sends it
    ]
    if disconnect:
        events.append({"type": "http.disconnect"})

    async def receive() -> dict[str, Any]:
        if events:
            return events.pop(0)
        await asyncio.sleep(WAIT_S)  # a kept-alive client that sends nothing more
        return {"type": "http.disconnect"}

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    before = _counters(metrics.registry)
    with structlog.testing.capture_logs() as logged:
        async with asyncio.timeout(WAIT_S):
            await entry(scope, receive, send)
    return Sent(
        messages, "litestar_app" in scope, _delta(before, _counters(metrics.registry)), [dict(e) for e in logged]
    )


def _comparable(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # An exception is a new object per call: compare its type.
    return [{k: (type(v) if k == "exc_info" else v) for k, v in e.items()} for e in logged]


async def _both(app: CallbackServer, path_and_query: str, chunks: list[bytes], **kw: Any) -> Sent:
    """The request through the fast path, then into Litestar; asserts both answered alike; returns the first."""
    metrics: CallbackMetrics = app.state.metrics
    fast = await _send(app, metrics, path_and_query, chunks, **kw)
    routed = await _send(lambda *a: Litestar.__call__(app, *a), metrics, path_and_query, chunks, **kw)
    assert not fast.through_litestar, "the fast path left this callback to Litestar"
    assert routed.through_litestar
    assert fast.messages == routed.messages
    assert fast.counted == routed.counted
    assert _comparable(fast.logged) == _comparable(routed.logged)
    return fast


def _path(settings: Settings, mode: Mode, workflow_id: str, **kw: Any) -> str:
    return signed_path(settings, callback_target(mode, workflow_id, **kw))


def _error(sent: Sent) -> tuple[int, str]:
    body = json.loads(sent.body)
    assert body["status_code"] == sent.status
    assert sent.messages[0]["headers"][-2] == (b"content-type", b"application/json")
    return sent.status, body["error"]


async def test_refusals_before_temporal_match_litestar(settings: Settings, client: Client) -> None:
    app = create_app(settings, client=client)
    good = _path(settings, Mode.SIGNAL, "wf-x")
    limit = settings.callback_max_body_bytes
    cases: list[tuple[str, list[bytes], dict[str, Any], tuple[int, str]]] = [
        (good.replace("sig=", "nosig="), [b"{}"], {}, (401, "missing_parameter")),
        (good.replace("stage=1", "stage=2"), [b"{}"], {}, (403, "bad_signature")),
        (good.replace("stage=1", "stage=1&stage=1"), [b"{}"], {}, (403, "bad_signature")),
        (_path(settings, Mode.SIGNAL, "wf-x", expires_at=int(time.time()) - 1), [b"{}"], {}, (403, "bad_signature")),
        (good + "".join(f"&x{i}=1" for i in range(20)), [b"{}"], {}, (400, "too_many_parameters")),
        (good.replace("wf=wf-x", "wf=" + "w" * 1001), [b"{}"], {}, (400, "workflow_id_too_long")),
        (good, [b"{not json"], {}, (400, "invalid_json")),
        (good, [b'{"status": "fin', b'ished"}'], {}, (400, "invalid_body")),
        (good, [b'{"result": {"n": 18446744073709551616}}'], {}, (400, "invalid_body")),
        (good, [b"x" * (limit + 1)], {}, (413, "body_too_large")),
        # No content-length (chunked): refused once the streamed bytes pass the limit.
        (good, [b"x" * limit, b"x"], {"headers": [(b"transfer-encoding", b"chunked")]}, (413, "body_too_large")),
        (good, [b"x"], {"headers": [(b"content-length", str(limit + 1).encode())]}, (413, "body_too_large")),
    ]
    for path, chunks, kw, expected in cases:
        sent = await _both(app, path, chunks, **kw)
        assert _error(sent) == expected, (path[:80], sent.body)
        assert sent.counted, "a refusal is counted"


async def test_answers_that_involve_temporal_match_litestar(settings: Settings, client: Client) -> None:
    app = create_app(settings, client=client)
    handle = await start_staged_run(client, settings.task_queue, StagedRunInput(stages=1))
    try:
        taken = await _both(app, _path(settings, Mode.SIGNAL, handle.id), [b'{"status": "progress"}'])
        assert taken.status == 202, taken.body
        assert b'"temporal_call":"signal advance_stage"' in taken.body
        assert [e["event"] for e in taken.logged] == ["callback forwarded"]
        empty = await _both(app, _path(settings, Mode.SIGNAL, handle.id), [])
        assert empty.status == 202, empty.body
    finally:
        await handle.terminate("test done")
    unknown = await _both(app, _path(settings, Mode.SIGNAL, f"nope-{uuid.uuid4()}"), [b"{}"])
    assert _error(unknown) == (404, "workflow_not_found")
    closed = await _both(app, _path(settings, Mode.UPDATE, handle.id), [b"{}"])
    assert _error(closed) == (409, "workflow_closed")
    token = await _both(app, _path(settings, Mode.TOKEN, "x"), [b'{"status": "completed"}'])
    assert 400 <= token.status < 500, token.body


async def test_temporal_down_is_503_with_retry_after_on_both(settings: Settings) -> None:
    dead = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(replace(settings, callback_temporal_timeout_seconds=0.5), client=dead)
    sent = await _both(app, _path(settings, Mode.SIGNAL, "wf"), [b"{}"])
    assert _error(sent) == (503, "temporal_unavailable")
    assert sent.messages[0]["headers"][0] == (b"retry-after", str(settings.callback_retry_after_seconds).encode())


async def test_a_client_gone_mid_body_and_a_bug_are_answered_alike(settings: Settings, client: Client) -> None:
    app = create_app(settings, client=client)
    gone = await _both(app, _path(settings, Mode.SIGNAL, "wf"), [b'{"sta'], disconnect=True)
    assert gone.status == 500  # nobody reads it; counted as Litestar counted it
    app.state.temporal = None  # a bug: the Temporal wrapper is missing
    bug = await _both(app, _path(settings, Mode.SIGNAL, "wf"), [b"{}"])
    assert _error(bug) == (500, "internal_error")
    assert [e["event"] for e in bug.logged] == ["unexpected error in the callback server"]


async def test_only_callback_posts_take_the_fast_path(settings: Settings, client: Client) -> None:
    app = create_app(settings, client=client)
    metrics: CallbackMetrics = app.state.metrics
    good = _path(settings, Mode.SIGNAL, "wf-x").replace("stage=1", "stage=2")  # answered 403 before Temporal
    path, _, query = good.partition("?")
    for method, where in [("GET", good), ("PUT", good), ("POST", f"{path}/?{query}"), ("POST", f"/callbacks?{query}")]:
        sent = await _send(app, metrics, where, [b"{}"], method=method)
        assert sent.through_litestar, (method, where)
        assert 400 <= sent.status < 500
    # A trailing slash is Litestar's, and Litestar's callback route answers it just the same.
    slash = await _send(app, metrics, f"{path}/?{query}", [b"{}"])
    fast = await _send(app, metrics, good, [b"{}"])
    assert (slash.status, slash.body) == (fast.status, fast.body) == (403, slash.body)
    assert not fast.through_litestar
