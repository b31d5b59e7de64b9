"""End-to-end tests of the service mock over real loopback HTTP, against a real callback receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from service_mock.server import Service
from tests.service_mock.harness import CallbackReceiver, RunningService, refused_url, running_service

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUIET = 0.15  # how long "nothing more arrives" is watched for


def assert_utc_timestamp(value: str) -> None:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == UTC.utcoffset(None)


async def submit_ok(service: RunningService, **body: Any) -> str:
    response = await service.submit(**body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["duplicate"] is False
    job_id: str = answer["job_id"]
    return job_id


async def test_healthz(service: RunningService) -> None:
    response = await service.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_complete_sends_one_completed_callback(service: RunningService, receiver: CallbackReceiver) -> None:
    job_id = await submit_ok(
        service, callback_url=receiver.url, time_to_callback=0.05, action="complete", payload={"order": 7}
    )
    [hit] = await receiver.wait_for_hits(1)
    callback = hit.json
    assert set(callback) == {"callback_id", "status", "result", "error", "progress", "sent_at"}
    assert callback["callback_id"] == f"{job_id}:final"
    assert callback["status"] == "completed"
    assert callback["result"] == {"job_id": job_id, "payload": {"order": 7}}
    assert callback["error"] is None
    assert callback["progress"] == 0
    assert_utc_timestamp(callback["sent_at"])

    state = await service.wait_until_done(job_id)
    assert state["deliveries"] == 1
    assert state["attempts"] == 1
    assert state["last_status_code"] == 200
    assert state["callback_url"] == receiver.url
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 1


async def test_complete_without_payload_echoes_null(service: RunningService, receiver: CallbackReceiver) -> None:
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0)
    [hit] = await receiver.wait_for_hits(1)
    assert hit.json["result"] == {"job_id": job_id, "payload": None}


@pytest.mark.parametrize(
    ("action", "status", "error"),
    [
        ("fail", "failed", "service failed job {job_id}: simulated failure"),
        ("report_cancellation", "cancelled", "service cancelled job {job_id}"),
    ],
)
async def test_unhappy_actions(
    service: RunningService, receiver: CallbackReceiver, action: str, status: str, error: str
) -> None:
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0.05, action=action)
    [hit] = await receiver.wait_for_hits(1)
    callback = hit.json
    assert callback["callback_id"] == f"{job_id}:final"
    assert callback["status"] == status
    assert callback["error"] == error.format(job_id=job_id)
    assert callback["result"] is None
    assert callback["progress"] == 0


async def test_heartbeat_sends_progress_then_completed(service: RunningService, receiver: CallbackReceiver) -> None:
    sent = asyncio.get_running_loop().time()
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0.05, action="heartbeat")
    hits = await receiver.wait_for_hits(4)
    callbacks = [hit.json for hit in hits]
    assert [c["status"] for c in callbacks] == ["progress", "progress", "progress", "completed"]
    assert [c["callback_id"] for c in callbacks] == [
        f"{job_id}:progress:1",
        f"{job_id}:progress:2",
        f"{job_id}:progress:3",
        f"{job_id}:final",
    ]
    assert [c["progress"] for c in callbacks] == [1, 2, 3, 3]
    assert [c["result"]["percent"] for c in callbacks[:3]] == [25, 50, 75]
    assert all(c["result"]["job_id"] == job_id for c in callbacks)
    # The sender waits SERVICE_HEARTBEAT_INTERVAL (0.05 s) after each of the 3 progress reports, so the final
    # callback cannot arrive before time_to_callback + 3 intervals. A lower bound only: load can delay, not hasten.
    assert hits[-1].received_at - sent >= 0.05 + 3 * 0.05 - 0.01, hits[-1].received_at - sent
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 4


async def test_ignore_never_calls_back(service: RunningService, receiver: CallbackReceiver) -> None:
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0, action="ignore")
    await asyncio.sleep(QUIET)
    assert receiver.hits == []
    state = await service.job(job_id)
    assert state["attempts"] == 0
    assert state["events_emitted"] == 0


async def test_early_callback_arrives_before_the_answer(service: RunningService, receiver: CallbackReceiver) -> None:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    response = await service.submit(callback_url=receiver.url, time_to_request=0.3, time_to_callback=0.05)
    answered = loop.time()
    assert response.status_code == 200
    assert answered - sent >= 0.3
    # Already there when the answer comes back: the callback was scheduled on arrival, not after the wait.
    assert len(receiver.hits) == 1
    assert receiver.hits[0].received_at < answered
    assert receiver.hits[0].json["callback_id"] == f"{response.json()['job_id']}:final"


async def test_callback_time_counts_from_arrival_not_from_answer(
    service: RunningService, receiver: CallbackReceiver
) -> None:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    response = await service.submit(callback_url=receiver.url, time_to_request=1.0, time_to_callback=0.35)
    answered = loop.time()
    assert response.status_code == 200
    [hit] = await receiver.wait_for_hits(1)
    # Counted from arrival, the callback comes ~0.65 s before the answer; counted from the answer, 0.35 s after.
    # Order with a wide margin rather than an upper bound on time (shared machines are slow, never fast).
    assert hit.received_at - sent >= 0.3
    assert hit.received_at < answered


async def test_extra_delay_postpones_the_callback(service: RunningService, receiver: CallbackReceiver) -> None:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await submit_ok(service, callback_url=receiver.url, time_to_callback=0.05, extra_delay=0.2)
    [hit] = await receiver.wait_for_hits(1)
    assert hit.received_at - sent >= 0.25


async def test_retries_on_503_then_succeeds(service: RunningService, receiver: CallbackReceiver) -> None:
    receiver.answer_next(503, times=2)
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0)
    hits = await receiver.wait_for_hits(3)
    assert [hit.answered for hit in hits] == [503, 503, 200]
    assert len({hit.body for hit in hits}) == 1  # retries resend the very same callback
    state = await service.wait_until_done(job_id)
    assert state["attempts"] == 3
    assert state["deliveries"] == 1
    assert state["deliveries_failed"] == 0
    assert state["last_status_code"] == 200
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 3


async def test_retries_on_429_and_connection_errors_until_attempts_run_out(
    service: RunningService, receiver: CallbackReceiver
) -> None:
    receiver.default_status = 429
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0)
    state = await service.wait_until_done(job_id)
    assert state["attempts"] == 4  # SERVICE_CALLBACK_MAX_ATTEMPTS in the test settings
    assert state["deliveries"] == 0
    assert state["deliveries_failed"] == 1
    assert state["last_status_code"] == 429
    assert len(receiver.hits) == 4


async def test_connection_refused_is_retried(service: RunningService) -> None:
    job_id = await submit_ok(service, callback_url=refused_url(), time_to_callback=0)
    state = await service.wait_until_done(job_id)
    assert state["attempts"] == 4
    assert state["deliveries_failed"] == 1
    assert state["last_status_code"] is None
    assert "ConnectError" in state["last_error"]


async def test_retry_after_is_honoured_and_capped(receiver: CallbackReceiver) -> None:
    # Jitter alone would wait at most 1 ms; Retry-After: 30 is capped at SERVICE_CALLBACK_RETRY_AFTER_MAX.
    async with running_service(callback_backoff_initial=0.001, callback_retry_after_max=0.3) as service:
        receiver.answer_next(503, headers={"Retry-After": "30"})
        await submit_ok(service, callback_url=receiver.url, time_to_callback=0)
        first, second = await receiver.wait_for_hits(2)
        assert (
            0.25 <= second.received_at - first.received_at < 10.0
        )  # uncapped it would be 30 s; a wide bound, not a timing check
        assert second.answered == 200


async def test_stops_on_400(service: RunningService, receiver: CallbackReceiver) -> None:
    receiver.default_status = 400
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0)
    state = await service.wait_until_done(job_id)
    assert state["attempts"] == 1
    assert state["deliveries"] == 0
    assert state["deliveries_failed"] == 1
    assert state["last_status_code"] == 400
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 1


async def test_duplicate_deliveries_sends_identical_copies(service: RunningService, receiver: CallbackReceiver) -> None:
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0.05, duplicate_deliveries=2)
    hits = await receiver.wait_for_hits(3)
    assert len({hit.body for hit in hits}) == 1
    assert hits[0].json["callback_id"] == f"{job_id}:final"
    state = await service.wait_until_done(job_id)
    assert state["deliveries"] == 3
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 3


async def test_duplicate_deliveries_apply_to_progress_callbacks_too(
    service: RunningService, receiver: CallbackReceiver
) -> None:
    await submit_ok(service, callback_url=receiver.url, time_to_callback=0, action="heartbeat", duplicate_deliveries=1)
    hits = await receiver.wait_for_hits(8)
    ids = [hit.json["callback_id"].rsplit(":", 1)[-1] for hit in hits]
    assert ids == ["1", "1", "2", "2", "3", "3", "final", "final"]


async def test_same_idempotency_key_same_url_does_no_new_work(
    service: RunningService, receiver: CallbackReceiver
) -> None:
    body = {"callback_url": receiver.url, "time_to_callback": 0.1, "idempotency_key": "order-1"}
    first = await service.submit(**body)
    second = await service.submit(**body)
    assert first.json()["duplicate"] is False
    assert second.status_code == 200
    assert second.json() == {"job_id": first.json()["job_id"], "duplicate": True}
    await receiver.wait_for_hits(1)
    await service.wait_until_done(first.json()["job_id"])
    # Again after completion: still nothing new.
    third = await service.submit(**body)
    assert third.json() == {"job_id": first.json()["job_id"], "duplicate": True}
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 1


async def test_new_url_after_completion_gets_the_final_callback_again(
    service: RunningService,
    receiver: CallbackReceiver,
    make_receiver: Callable[[], CallbackReceiver],
) -> None:
    retry_receiver = make_receiver()
    job_id = await submit_ok(
        service, callback_url=receiver.url, time_to_callback=0, idempotency_key="order-2", payload={"n": 1}
    )
    [original] = await receiver.wait_for_hits(1)
    await service.wait_until_done(job_id)

    response = await service.submit(callback_url=retry_receiver.url, idempotency_key="order-2")
    assert response.json() == {"job_id": job_id, "duplicate": True}
    [redelivered] = await retry_receiver.wait_for_hits(1)
    assert redelivered.body == original.body
    state = await service.wait_until_done(job_id)
    assert state["callback_url"] == retry_receiver.url
    await asyncio.sleep(QUIET)
    assert len(receiver.hits) == 1
    assert len(retry_receiver.hits) == 1


async def test_new_url_before_completion_redirects_the_pending_callback(
    service: RunningService,
    receiver: CallbackReceiver,
    make_receiver: Callable[[], CallbackReceiver],
) -> None:
    retry_receiver = make_receiver()
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0.2, idempotency_key="order-3")
    response = await service.submit(callback_url=retry_receiver.url, idempotency_key="order-3")
    assert response.json() == {"job_id": job_id, "duplicate": True}
    [hit] = await retry_receiver.wait_for_hits(1)
    assert hit.json["callback_id"] == f"{job_id}:final"
    await service.wait_until_done(job_id)
    await asyncio.sleep(QUIET)
    assert receiver.hits == []
    assert len(retry_receiver.hits) == 1


async def test_a_service_that_keeps_its_first_url_ignores_a_newer_one(
    receiver: CallbackReceiver, make_receiver: Callable[[], CallbackReceiver]
) -> None:
    """SERVICE_KEEP_FIRST_CALLBACK_URL: a repeated request's URL is not used (token mode's URL must survive)."""
    retry_receiver = make_receiver()
    async with running_service(keep_first_callback_url=True) as keeping:
        job_id = await submit_ok(keeping, callback_url=receiver.url, time_to_callback=0.2, idempotency_key="keep-1")
        response = await keeping.submit(callback_url=retry_receiver.url, idempotency_key="keep-1")
        assert response.json() == {"job_id": job_id, "duplicate": True}
        [hit] = await receiver.wait_for_hits(1)
        assert hit.json["callback_id"] == f"{job_id}:final"
        state = await keeping.wait_until_done(job_id)
        assert state["callback_url"] == receiver.url
        await asyncio.sleep(QUIET)
        assert retry_receiver.hits == []


async def test_new_url_while_retrying_moves_the_remaining_attempts(
    service: RunningService,
    receiver: CallbackReceiver,
    make_receiver: Callable[[], CallbackReceiver],
) -> None:
    retry_receiver = make_receiver()
    receiver.default_status = 503
    job_id = await submit_ok(service, callback_url=receiver.url, time_to_callback=0, idempotency_key="order-4")
    await receiver.wait_for_hits(1)
    await service.submit(callback_url=retry_receiver.url, idempotency_key="order-4")
    [hit] = await retry_receiver.wait_for_hits(1)
    assert hit.json["callback_id"] == f"{job_id}:final"
    state = await service.wait_until_done(job_id)
    assert state["deliveries"] == 1
    await asyncio.sleep(QUIET)
    assert len(retry_receiver.hits) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "callback_url"),
        ({"callback_url": "ftp://example.com/cb"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"callback_url": "http://127.0.0.1/cb", "time_to_request": -1}, "time_to_request"),
        ({"callback_url": "http://127.0.0.1/cb", "time_to_callback": "soon"}, "time_to_callback"),
        ({"callback_url": "http://127.0.0.1/cb", "action": "explode"}, "action"),
        ({"callback_url": "http://127.0.0.1/cb", "payload": [1, 2]}, "payload"),
        ({"callback_url": "http://127.0.0.1/cb", "duplicate_deliveries": -1}, "duplicate_deliveries"),
        ({"callback_url": "http://127.0.0.1/cb", "extra_delay": -0.5}, "extra_delay"),
        ({"callback_url": "http://127.0.0.1/cb", "colour": "blue"}, "colour"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(service: RunningService, body: dict[str, Any], field: str) -> None:
    response = await service.client.post("/request", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()
    assert error["status_code"] == 400
    assert [item["key"] for item in error["extra"]] == [field]
    assert error["extra"][0]["message"]


async def test_malformed_json_is_a_400(service: RunningService) -> None:
    response = await service.client.post("/request", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "malformed" in response.json()["detail"].lower()


async def test_unknown_job_is_a_404_json(service: RunningService) -> None:
    response = await service.client.get("/jobs/job-does-not-exist")
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown job_id 'job-does-not-exist'"


async def test_shutdown_cancels_pending_callbacks(receiver: CallbackReceiver) -> None:
    async with running_service() as service:
        await submit_ok(service, callback_url=receiver.url, time_to_callback=30)
        state = service.app.state.service
        assert isinstance(state, Service)
        assert state.runner.active_tasks == 1
    # Leaving the block ran the lifespan exit, which must not wait 30 s for the callback.
    assert state.runner.active_tasks == 0
    assert receiver.hits == []
