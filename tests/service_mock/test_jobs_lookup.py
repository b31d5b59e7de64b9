"""GET /jobs?idempotency_key=: find a job by the key the client sent."""

from __future__ import annotations

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
