"""A small external service for the own-workflow test: two endpoints, each calls back later. Not the mock.

`POST /kyc/checks` takes `webhook_url`; `POST /esign/envelopes` takes `notify.url`. Each answers at once,
then POSTs the outcome to the URL it was given (a stagegate callback body). `fail_esign` makes the
e-signature stage report failure; `silent` never calls back. It remembers what it was asked, for the test's assertions.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar, Request, post
from litestar.datastructures import State
from litestar.params import JSONBody


@dataclass
class ServiceLog:
    """What the service saw: requests by endpoint, and the answers its callbacks got."""

    requests: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    callback_statuses: list[int] = field(default_factory=list)
    fail_esign: bool = False
    silent: bool = False  # answer requests but never call back (stages are then advanced by hand)


def create_service(log: ServiceLog, *, delay: float = 0.2) -> Litestar:
    """The service app; callbacks go out on background tasks the app keeps until shutdown."""
    tasks: set[asyncio.Task[None]] = set()

    async def call_back(url: str, body: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        async with httpx.AsyncClient() as http:
            response = await http.post(url, json=body, timeout=15)
        log.callback_statuses.append(response.status_code)

    def later(url: str, body: dict[str, Any]) -> None:
        if log.silent:
            return
        task = asyncio.create_task(call_back(url, body))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @post("/kyc/checks", status_code=201)
    async def kyc_check(request: Request[object, object, State], data: JSONBody[dict[str, Any]]) -> dict[str, str]:
        log.requests.append(("kyc", data, request.headers.get("idempotency-key")))
        check_id = f"chk_{uuid.uuid4().hex[:8]}"
        result = {"check_id": check_id, "verified_name": str(data["person"]).title()}
        later(str(data["webhook_url"]), {"status": "completed", "callback_id": check_id, "result": result})
        return {"check_id": check_id}

    @post("/esign/envelopes", status_code=202)
    async def envelope(request: Request[object, object, State], data: JSONBody[dict[str, Any]]) -> dict[str, str]:
        log.requests.append(("esign", data, request.headers.get("idempotency-key")))
        envelope_id = f"env_{uuid.uuid4().hex[:8]}"
        body: dict[str, Any]
        if log.fail_esign:
            body = {"status": "failed", "callback_id": envelope_id, "error": "signer declined"}
        else:
            body = {
                "status": "completed",
                "callback_id": envelope_id,
                "result": {"signed_by": str(data["signer_name"])},
            }
        later(str(data["notify"]["url"]), body)
        return {"envelope_id": envelope_id}

    async def drain() -> None:
        for task in list(tasks):
            task.cancel()

    return Litestar(route_handlers=[kyc_check, envelope], on_shutdown=[drain], logging_config=None)
