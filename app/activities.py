"""Stage activities: ask the external service for a stage's work, handing it a signed callback URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NoReturn

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.callback_urls import CallbackTarget, build_callback_url
from app.config import Settings
from app.payloads import (
    ACTIVITY_AWAIT_STAGE_CALLBACK,
    ACTIVITY_CHECK_STAGE,
    ACTIVITY_REQUEST_STAGE,
    ERR_SERVICE_REJECTED_REQUEST,
    ERR_SERVICE_UNAVAILABLE,
    CallbackStatus,
    StageCallback,
    StageCheck,
    StageCompletion,
    StageRequest,
    StageRequestAccepted,
)


class StageActivities:
    """Activities bound to one worker's settings and its one shared httpx client."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @activity.defn(name=ACTIVITY_REQUEST_STAGE)
    async def request_stage(self, request: StageRequest) -> StageRequestAccepted:
        """Signal mode: the service accepted the work; the workflow's gate waits for the signal."""
        _bind_log_context(request)
        info = activity.info()
        url = self._callback_url(request, task_token=None)
        job_id = await self._post_request(request, url)
        return StageRequestAccepted(attempt=info.attempt, accepted_at=_utc_now(), job_id=job_id)

    @activity.defn(name=ACTIVITY_AWAIT_STAGE_CALLBACK)
    async def await_stage_callback(self, request: StageRequest) -> StageCompletion:
        """Token mode: hand the service our task token, then leave the activity open for the callback."""
        _bind_log_context(request)
        url = self._callback_url(request, task_token=activity.info().task_token)
        await self._post_request(request, url)
        _complete_async()

    @activity.defn(name=ACTIVITY_CHECK_STAGE)
    async def check_stage(self, request: StageRequest) -> StageCheck:
        """Before a stage times out: ask the service whether the work finished and the callback got lost."""
        _bind_log_context(request)
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
                received_at=_utc_now(),
            ),
        )

    def _callback_url(self, request: StageRequest, *, task_token: bytes | None) -> str:
        target = CallbackTarget(
            mode=request.mode,
            workflow_id=request.workflow_id,
            stage=request.stage,
            attempt=activity.info().attempt,
            expires_at=int(request.callback_deadline_epoch) + self._settings.callback_url_grace_seconds,
            task_token=task_token,
        )
        return build_callback_url(self._settings.callback_base_url, self._settings.signing_secrets[0], target)

    async def _post_request(self, request: StageRequest, callback_url: str) -> str | None:
        body = {
            "callback_url": callback_url,
            "time_to_request": request.time_to_request,
            "time_to_callback": request.time_to_callback,
            "action": request.action.value,
            "idempotency_key": request.idempotency_key,
            "payload": {"workflow_id": request.workflow_id, "stage": request.stage},
            "duplicate_deliveries": request.faults.duplicate_deliveries,
            "extra_delay": request.faults.extra_delay_seconds,
            "lose_callbacks": request.faults.lose_callbacks,
        }
        # The service holds the request for time_to_request before answering.
        timeout = min(request.time_to_request + 10.0, self._settings.service_request_timeout_seconds)
        log = activity.logger
        try:
            response = await self._http.post(f"{self._settings.service_url}/request", json=body, timeout=timeout)
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
        log.info("stage %s request accepted by the service (job %s)", request.stage, job_id)
        return str(job_id) if job_id is not None else None


def _bind_log_context(request: StageRequest) -> None:
    # Every log line of this activity (ours, the SDK's, httpx's) carries the run and stage. The SDK runs
    # each activity in its own asyncio task, so the binding does not leak into other activities.
    structlog.contextvars.bind_contextvars(
        workflow_id=request.workflow_id, stage=request.stage, mode=request.mode.value, attempt=activity.info().attempt
    )


def _complete_async() -> NoReturn:
    activity.raise_complete_async()


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()
