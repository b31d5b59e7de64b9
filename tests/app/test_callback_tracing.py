"""Which trace context a callback request span starts from: the signed URL's, unless the sender's is finer."""

from __future__ import annotations

from typing import cast

import pytest
from litestar.types import Scope

from app.callbacks.tracing import url_traceparent, with_url_trace_context

FROM_URL = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SAME_TRACE = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
OTHER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _scope(query: str, *headers: tuple[bytes, bytes]) -> Scope:
    return cast(Scope, {"type": "http", "query_string": query.encode(), "headers": [(b"host", b"cb"), *headers]})


def _traceparents(scope: Scope) -> list[bytes]:
    return [v for k, v in scope["headers"] if k == b"traceparent"]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ((), FROM_URL),  # no header: the URL's context
        (((b"traceparent", SAME_TRACE.encode()),), SAME_TRACE),  # the service forwarded our trace: finer parent
        (((b"traceparent", OTHER_TRACE.encode()),), FROM_URL),  # the service's own trace cannot take it away
        (((b"traceparent", b"garbage"),), FROM_URL),
    ],
    ids=["no-header", "same-trace", "other-trace", "garbage-header"],
)
def test_the_url_decides_the_trace(sent: tuple[tuple[bytes, bytes], ...], expected: str) -> None:
    scope = with_url_trace_context(_scope(f"wf=x&traceparent={FROM_URL}&sig=y", *sent))
    assert _traceparents(scope) == [expected.encode()]
    assert (b"host", b"cb") in scope["headers"]


@pytest.mark.parametrize(
    "query",
    ["wf=x&sig=y", "traceparent=nonsense", f"traceparent={FROM_URL}&traceparent={SAME_TRACE}"],
    ids=["absent", "malformed", "repeated"],
)
def test_without_one_usable_url_traceparent_the_request_is_left_alone(query: str) -> None:
    original = _scope(query, (b"traceparent", OTHER_TRACE.encode()))
    assert url_traceparent(original["query_string"]) is None
    assert with_url_trace_context(original) is original
