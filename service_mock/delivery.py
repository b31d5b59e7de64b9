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
from service_mock.signing import BodySigner

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
    """Delivers callback bodies over one shared httpx client, honouring the retry policy from settings.

    A failing callback is retried until a 2xx, a final refusal (a 4xx other than 429: an expired callback URL
    gets one), the retry window closing, or the optional attempt cap; like real webhook senders, which retry
    for hours to days, so an outage shorter than the callback URL's validity loses nothing.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_attempts: int | None,
        backoff_initial: float,
        backoff_max: float,
        timeout: float,
        retry_window: float = 24 * 3600.0,
        retry_after_max: float = 600.0,
        signer: BodySigner | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._signer = signer
        self._max_attempts = None if max_attempts is None else max(1, max_attempts)
        self._retry_window = retry_window
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._retry_after_max = retry_after_max
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
            retry_window=settings.callback_retry_window,
            retry_after_max=settings.callback_retry_after_max,
            signer=BodySigner(settings.webhook_keys) if settings.webhook_keys else None,
        )

    def backoff(self, failed_attempts: int) -> float:
        """Full jitter: uniform in [0, min(cap, initial * 2**(n-1))], so many retrying senders spread out."""
        exponent = min(max(0, failed_attempts - 1), 64)  # 2**64 * any initial is past every sane cap
        ceiling = min(self._backoff_max, self._backoff_initial * 2.0**exponent)
        return self._rng.uniform(0.0, ceiling)

    def delay_after(self, failed_attempts: int, status_code: int | None, retry_after: float | None) -> float:
        """How long to wait before the next attempt.

        A 503 or 429 with Retry-After is honoured (up to `retry_after_max`), plus a little jitter so senders
        told the same second do not all come back at once; everything else backs off exponentially.
        """
        if status_code in (429, 503) and retry_after is not None:
            return min(retry_after, self._retry_after_max) + self._rng.uniform(0.0, self._backoff_initial)
        return self.backoff(failed_attempts)

    async def send(
        self,
        body: bytes,
        *,
        target: Callable[[], str],
        log: structlog.stdlib.BoundLogger,
        on_attempt: Callable[[Attempt], None] | None = None,
        webhook_id: str | None = None,
    ) -> DeliveryOutcome:
        """POST body until a 2xx, a final refusal, or the retry budget (window, optional attempt cap) runs out.

        `target` is read before every attempt so a job whose callback URL was switched
        (a retried activity has a new task token) sends its remaining attempts to the new URL. With a signer,
        each attempt is signed afresh (new timestamp) under the same `webhook_id`, as Standard Webhooks asks.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_window
        number = 0
        while True:
            number += 1
            url = target()
            attempt_log = log.bind(attempt=number, max_attempts=self._max_attempts, url=_redact(url))
            retry_after: float | None = None
            try:
                response = await self._client.post(
                    url, content=body, headers=self._headers(body, webhook_id), timeout=self._timeout
                )
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

            delay = self.delay_after(number, status_code, retry_after)
            out_of_attempts = self._max_attempts is not None and number >= self._max_attempts
            if out_of_attempts or loop.time() + delay > deadline:
                attempt_log.error(
                    "callback retries exhausted",
                    status_code=status_code,
                    error=outcome_error,
                    reason="attempt cap" if out_of_attempts else "retry window closed",
                )
                return "exhausted"
            attempt_log.warning(
                "callback attempt failed, retrying",
                status_code=status_code,
                error=outcome_error,
                retry_in=round(delay, 3),
                retry_after_header=retry_after is not None,
            )
            await asyncio.sleep(delay)

    def _headers(self, body: bytes, webhook_id: str | None) -> dict[str, str]:
        if self._signer is None or webhook_id is None:
            return _HEADERS
        return {**_HEADERS, **self._signer.headers(webhook_id, body, now=datetime.now(UTC))}

    @staticmethod
    def _report(on_attempt: Callable[[Attempt], None] | None, attempt: Attempt) -> None:
        if on_attempt is not None:
            on_attempt(attempt)
