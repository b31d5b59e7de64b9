"""The retry policy's pure parts: which answers are retried, backoff bounds, Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from service_mock.delivery import CallbackSender, is_retryable_status, parse_retry_after


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True), (400, False), (404, False)])
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("-3", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no wait
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_full_jitter_backoff_doubles_and_is_capped() -> None:
    sender = CallbackSender(
        httpx.AsyncClient(),
        max_attempts=6,
        backoff_initial=0.2,
        backoff_max=1.0,
        timeout=1.0,
        rng=random.Random(1),
    )
    for failed, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0)]:
        delays = [sender.backoff(failed) for _ in range(200)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not pinned low
