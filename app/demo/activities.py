"""The demo's stage activities: ask the service mock for a stage's work, handing it the gate's signed callback URL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.demo.payloads import ACTIVITY_AWAIT_STAGE_CALLBACK, ACTIVITY_CHECK_STAGE, ACTIVITY_REQUEST_STAGE, StageRequest
from app.gate.stage_activity import current_stage, report_service
from app.gate.types import (
    ERR_SERVICE_REJECTED_REQUEST,
    ERR_SERVICE_UNAVAILABLE,
    CallbackStatus,
    StageCallback,
    StageCheck,
)
from app.runtime.config import Settings


class StageActivities:
    """Activities bound to one worker's settings and its one shared httpx client."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @activity.defn(name=ACTIVITY_REQUEST_STAGE)
    async def request_stage(self, request: StageRequest) -> str | None:
        """Signal and update mode: the service accepted the work; the gate then waits for the callback."""
        return await self._post_request(request)

    @activity.defn(name=ACTIVITY_AWAIT_STAGE_CALLBACK)
    async def await_stage_callback(self, request: StageRequest) -> str | None:
        """Token mode: the same request; the gate's interceptor then leaves the activity open for the callback."""
        return await self._post_request(request)

    @activity.defn(name=ACTIVITY_CHECK_STAGE)
    async def check_stage(self, request: StageRequest) -> StageCheck:
        """Reconcile: before a stage times out, ask the service whether the work finished and the callback got lost."""
        try:
            response = await self._http.get(
                f"{self._settings.service_url}/jobs", params={"idempotency_key": request.idempotency_key}, timeout=10.0
            )
        except httpx.HTTPError as exc:
            raise ApplicationError(f"service unreachable: {type(exc).__name__}", type=ERR_SERVICE_UNAVAILABLE) from exc
        if response.status_code != 200:
            raise ApplicationError(f"service answered {response.status_code}", type=ERR_SERVICE_UNAVAILABLE)
        jobs = response.json()
        if not jobs:
            return StageCheck(job_found=False)
        final = jobs[0].get("final")
        if not final or final.get("status") == CallbackStatus.PROGRESS.value:
            return StageCheck(job_found=True)
        activity.logger.info("stage %s: the service finished but its callback never arrived", request.stage)
        return StageCheck(
            job_found=True,
            callback=StageCallback(
                stage=request.stage,
                status=CallbackStatus(final["status"]),
                result=final.get("result"),
                error=final.get("error"),
                callback_id=final.get("callback_id"),
                progress=final.get("progress"),
                received_at=datetime.now(UTC).isoformat(),
            ),
        )

    async def _post_request(self, request: StageRequest) -> str | None:
        stage = current_stage()
        if request.faults.pause_before_request_seconds > 0:
            await asyncio.sleep(request.faults.pause_before_request_seconds)
        body = {
            "callback_url": stage.callback_url,
            "time_to_request": request.time_to_request,
            "time_to_callback": request.time_to_callback,
            "action": request.action.value,
            "idempotency_key": stage.idempotency_key,
            "payload": {"workflow_id": stage.workflow_id, "stage": request.stage},
            "duplicate_deliveries": request.faults.duplicate_deliveries,
            "extra_delay": request.faults.extra_delay_seconds,
            "lose_callbacks": request.faults.lose_callbacks,
        }
        # The service holds the request for time_to_request before answering.
        timeout = min(request.time_to_request + 10.0, self._settings.service_request_timeout_seconds)
        url = f"{self._settings.service_url}/request"
        report_service("POST", url)  # method and host only, for the run's current details
        try:
            response = await self._http.post(url, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"service unreachable: {type(exc).__name__}: {exc}", type=ERR_SERVICE_UNAVAILABLE
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ApplicationError(
                f"service answered {response.status_code}: {response.text[:200]}", type=ERR_SERVICE_UNAVAILABLE
            )
        if response.status_code >= 400:
            raise ApplicationError(
                f"service rejected the request with {response.status_code}: {response.text[:500]}",
                type=ERR_SERVICE_REJECTED_REQUEST,
                non_retryable=True,
            )
        data = response.json() if response.content else {}
        job_id = data.get("job_id") if isinstance(data, dict) else None
        faults = request.faults
        if faults.lose_request_answers or (faults.lose_first_request_answer and activity.info().attempt == 1):
            raise ApplicationError("the service's answer was lost (fault injection)", type=ERR_SERVICE_UNAVAILABLE)
        activity.logger.info("stage %s request accepted by the service (job %s)", request.stage, job_id)
        return str(job_id) if job_id is not None else None
