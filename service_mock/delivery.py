"""Callback sender: POSTs one callback body, retrying transient failures with jittered backoff."""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx
import structlog

from service_mock.config import Settings

DeliveryOutcome = Literal["delivered", "rejected", "exhausted"]

_HEADERS = {"content-type": "application/json", "user-agent": "stagegate-service-mock"}


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one HTTP attempt ended with: a status code, or a transport error."""

    number: int
    url: str
    status_code: int | None
    error: str | None


def is_retryable_status(status_code: int) -> bool:
    """5xx and 429 are the receiver's transient trouble; every other non-2xx is final."""
    return status_code >= 500 or status_code == 429


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date); None if absent or unparsable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _redact(url: str) -> str:
    # Query strings often carry tokens; logs only need to show where the callback went.
    return url.split("?", 1)[0]


class CallbackSender:
    """Delivers callback bodies over one shared httpx client, honouring the retry policy from settings."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_attempts: int,
        backoff_initial: float,
        backoff_max: float,
        timeout: float,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._max_attempts = max(1, max_attempts)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._timeout = timeout
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not cryptography

    @classmethod
    def from_settings(cls, client: httpx.AsyncClient, settings: Settings) -> CallbackSender:
        """A sender configured from the SERVICE_CALLBACK_* settings."""
        return cls(
            client,
            max_attempts=settings.callback_max_attempts,
            backoff_initial=settings.callback_backoff_initial,
            backoff_max=settings.callback_backoff_max,
            timeout=settings.callback_timeout,
        )

    def backoff(self, failed_attempts: int) -> float:
        """Full jitter: uniform in [0, min(cap, initial * 2**(n-1))], so many retrying senders spread out."""
        ceiling = min(self._backoff_max, self._backoff_initial * 2.0 ** max(0, failed_attempts - 1))
        return self._rng.uniform(0.0, ceiling)

    async def send(
        self,
        body: bytes,
        *,
        target: Callable[[], str],
        log: structlog.stdlib.BoundLogger,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> DeliveryOutcome:
        """POST body until a 2xx, a final refusal, or the attempt budget runs out.

        `target` is read before every attempt so a job whose callback URL was switched
        (a retried activity has a new task token) sends its remaining attempts to the new URL.
        """
        for number in range(1, self._max_attempts + 1):
            url = target()
            attempt_log = log.bind(attempt=number, max_attempts=self._max_attempts, url=_redact(url))
            retry_after: float | None = None
            try:
                response = await self._client.post(url, content=body, headers=_HEADERS, timeout=self._timeout)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                self._report(on_attempt, Attempt(number, url, None, repr(exc)))
                attempt_log.error("callback rejected: unusable URL", error=repr(exc))
                return "rejected"
            except httpx.TransportError as exc:
                # Connection refused, reset, timeouts: the receiver may be restarting, so try again.
                self._report(on_attempt, Attempt(number, url, None, repr(exc)))
                outcome_error = repr(exc)
                status_code: int | None = None
            else:
                status_code = response.status_code
                self._report(on_attempt, Attempt(number, url, status_code, None))
                if response.is_success:
                    attempt_log.info("callback delivered", status_code=status_code)
                    return "delivered"
                if not is_retryable_status(status_code):
                    attempt_log.error(
                        "callback refused, not retrying", status_code=status_code, response=response.text[:500]
                    )
                    return "rejected"
                outcome_error = f"HTTP {status_code}"
                retry_after = parse_retry_after(response.headers.get("retry-after"))

            if number == self._max_attempts:
                attempt_log.error("callback attempts exhausted", status_code=status_code, error=outcome_error)
                return "exhausted"
            delay = min(retry_after, self._backoff_max) if retry_after is not None else self.backoff(number)
            attempt_log.warning(
                "callback attempt failed, retrying",
                status_code=status_code,
                error=outcome_error,
                retry_in=round(delay, 3),
                retry_after_header=retry_after is not None,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns on its last attempt")

    @staticmethod
    def _report(on_attempt: Callable[[Attempt], None] | None, attempt: Attempt) -> None:
        if on_attempt is not None:
            on_attempt(attempt)
