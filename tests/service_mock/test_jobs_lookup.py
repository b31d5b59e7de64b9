"""GET /jobs?idempotency_key=: find a job by the key the client sent."""

from __future__ import annotations

import asyncio

from service_mock.config import load_settings
from service_mock.server import create_app
from tests.asgi import asgi_client


async def test_lookup_by_idempotency_key() -> None:
    app = create_app(load_settings({}))
    async with app.lifespan(), asgi_client(app) as http:
        body = {"callback_url": "http://127.0.0.1:9/cb", "action": "ignore", "idempotency_key": "wf/run/1"}
        job_id = (await http.post("/request", json=body)).json()["job_id"]
        found = (await http.get("/jobs", params={"idempotency_key": "wf/run/1"})).json()
        assert [j["job_id"] for j in found] == [job_id]
        assert found[0]["callback_url"] == "http://127.0.0.1:9/cb"
        assert (await http.get("/jobs", params={"idempotency_key": "other"})).json() == []
        missing = await http.get("/jobs")
        assert missing.status_code == 400


async def test_lost_callbacks_still_show_the_final_outcome() -> None:
    app = create_app(load_settings({}))
    async with app.lifespan(), asgi_client(app) as http:
        body = {
            "callback_url": "http://127.0.0.1:9/cb",
            "action": "fail",
            "time_to_callback": 0.05,
            "idempotency_key": "lost-1",
            "lose_callbacks": True,
        }
        job_id = (await http.post("/request", json=body)).json()["job_id"]
        async with asyncio.timeout(5):
            while not (view := (await http.get(f"/jobs/{job_id}")).json())["done"]:
                await asyncio.sleep(0.02)
        assert view["final"]["status"] == "failed"
        assert view["attempts"] == 0  # nothing was sent: the callback was "lost"
        assert view["deliveries"] == 0
