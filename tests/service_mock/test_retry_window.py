"""Finding 3, sender side: the mock's DEFAULT policy keeps retrying through an outage, as real senders do.

The old default (6 attempts, Retry-After capped at a 5 s backoff cap) gave up after about 3 s, so a callback
server restart or a short Temporal outage sent stages to the reconcile path at their timeout.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import httpx
import pytest

from service_mock.config import Settings
from service_mock.delivery import CallbackSender
from tests.service_mock.harness import CallbackReceiver, RunningService, refused_url, running_service

# The service mock and its receivers serve on real sockets.
pytestmark = pytest.mark.integration

ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the receiver hub is per module

# The defaults under test, with quick backoff so the test takes a second, not minutes.
DEFAULTS_FAST = Settings(callback_backoff_initial=0.01, callback_backoff_max=0.05, callback_timeout=2.0)


async def _submit(service: RunningService, **body: Any) -> str:
    response = await service.submit(**body)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_default_policy_is_bounded_by_time_not_attempts() -> None:
    defaults = Settings()
    assert defaults.callback_max_attempts is None
    # At least as long as a default callback URL stays valid after its stage deadline (CALLBACK_URL_GRACE_SECONDS).
    assert defaults.callback_retry_window >= 3600
    # The per-attempt timeout leaves the callback server's 3 s Temporal budget room to answer 503.
    assert defaults.callback_timeout > 3.0


@ON_MODULE_LOOP
async def test_default_policy_outlasts_an_outage_of_many_attempts(receiver: CallbackReceiver) -> None:
    # 25 failures in a row (the old default gave up after 6), then the receiver is back.
    receiver.answer_next(503, times=25)
    async with running_service(DEFAULTS_FAST) as service:
        job_id = await _submit(service, callback_url=receiver.url, time_to_callback=0)
        state = await service.wait_until_done(job_id, within=20)
    assert state["attempts"] == 26, state
    assert (state["deliveries"], state["deliveries_failed"]) == (1, 0), state
    assert receiver.hits[-1].answered == 200


@ON_MODULE_LOOP
async def test_retry_after_is_honoured_beyond_the_backoff_cap(receiver: CallbackReceiver) -> None:
    # The backoff cap is 0.05 s, the receiver asks for 1 s: the receiver's word wins (the old code capped it).
    receiver.answer_next(503, headers={"Retry-After": "1"})
    async with running_service(DEFAULTS_FAST) as service:
        await _submit(service, callback_url=receiver.url, time_to_callback=0)
        first, second = await receiver.wait_for_hits(2, within=10)
    assert second.received_at - first.received_at >= 1.0
    assert second.answered == 200


@ON_MODULE_LOOP
async def test_the_retry_window_ends_the_retries() -> None:
    async with running_service(replace(DEFAULTS_FAST, callback_retry_window=0.3)) as service:
        job_id = await _submit(service, callback_url=refused_url(), time_to_callback=0)
        state = await service.wait_until_done(job_id, within=10)
    assert (state["deliveries"], state["deliveries_failed"]) == (0, 1), state
    assert state["attempts"] > 1


@pytest.mark.parametrize("status", [500, 502])
def test_retry_after_counts_only_on_503_and_429(status: int) -> None:
    sender = CallbackSender(
        httpx.AsyncClient(), max_attempts=None, backoff_initial=0.1, backoff_max=0.2, timeout=1.0, rng=random.Random(3)
    )
    assert sender.delay_after(3, status, 60.0) <= 0.2
    assert 60.0 <= sender.delay_after(3, 503, 60.0) <= 60.1
    assert 60.0 <= sender.delay_after(3, 429, 60.0) <= 60.1
