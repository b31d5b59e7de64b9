"""The generic pipeline activities: one HTTP request per stage (any URL, method, body), and a status GET to reconcile.

They know nothing about any particular service: the stage's templates say where the callback URL, the
idempotency key, the run's input and earlier results go. Placeholders are filled in here, in the worker, in
one pass, so `${env.NAME}` values (API keys) never enter workflow history; errors name the template, never
the filled-in URL or header.

Every request goes out through the egress policy (`app/pipeline/egress.py`): the `http` client handed in is
the one `egress_client` makes (it checks each connection's address), and here each request's `${env...}`
values are checked against the hosts they are bound to, and a redirect fails the stage instead of being
followed (it would take the callback URL and the credentials somewhere the pipeline file did not name).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.errors import TemplateError
from app.gate.stage_activity import ERR_NO_HOOK_KEY, current_stage, report_hook_key, report_service
from app.gate.types import (
    ERR_SERVICE_REJECTED_REQUEST,
    ERR_SERVICE_UNAVAILABLE,
    CallbackStatus,
    StageCallback,
    StageCheck,
)
from app.pipeline.egress import EgressPolicy
from app.pipeline.outbound import UsedEnv, check_env, raise_for_redirect, request_error
from app.pipeline.template import Context, Place, lookup, render_json, render_text
from app.pipeline.types import (
    ACTIVITY_PIPELINE_REQUEST,
    ACTIVITY_PIPELINE_STATUS,
    ERR_PIPELINE_TEMPLATE,
    HttpStageCall,
    StatusCheckCall,
)
from app.runtime.config import Settings

_FINAL = {CallbackStatus.COMPLETED, CallbackStatus.FAILED, CallbackStatus.CANCELLED}
STATUS_TIMEOUT_SECONDS = 10.0


class PipelineActivities:
    """Activities bound to one worker's settings (its exposed environment) and its shared httpx client."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, policy: EgressPolicy | None = None) -> None:
        """`http` should come from `app.pipeline.egress.egress_client` (the worker's does): it checks addresses."""
        self._settings = settings
        self._http = http
        self._policy = policy or EgressPolicy.from_settings(settings)

    @activity.defn(name=ACTIVITY_PIPELINE_REQUEST)
    async def http_request(self, call: HttpStageCall) -> Any:
        """Make the stage's request with its callback URL filled in; return the answer id (or None).

        In token mode the gate's interceptor then leaves the activity open until the callback completes it.
        """
        stage = current_stage()
        env = UsedEnv(self._settings.pipeline_env)
        ctx = Context(
            input=call.input,
            stages=call.earlier,
            env=env,
            idempotency_key=stage.idempotency_key,
            workflow_id=stage.workflow_id,
            stage=call.stage,
            callback_url=stage.callback_url,
        )
        try:
            url = render_text(call.request.url, ctx, Place.URL)
            headers = {k: render_text(v, ctx, Place.HEADER) for k, v in call.request.headers.items()}
            body = render_json(call.request.body, ctx) if call.request.body is not None else None
        except TemplateError as exc:
            raise _template_error(call.stage, exc) from None
        remaining = max(stage.deadline_epoch - datetime.now(UTC).timestamp(), 1.0)
        timeout = min(remaining, self._settings.service_request_timeout_seconds)
        report_service(call.request.method, url)  # method and host only, for the run's current details
        what = f"{call.request.method} {call.request.url}"
        check_env(self._policy, what, url, env.used)
        try:
            response = await self._http.request(
                call.request.method,
                url,
                headers=headers,
                json=body if call.request.body is not None else None,
                timeout=timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise request_error(what, exc) from None
        _raise_for_answer(what, response)
        if call.hook_key_path is not None:  # `wait.key: ${answer...}`: the gate's interceptor registers it
            report_hook_key(_hook_key(call, response))
        answer = _answer_id(call, response)
        activity.logger.info(
            "pipeline %s stage %s: %s answered %s", call.pipeline, call.stage, what, response.status_code
        )
        return answer

    @activity.defn(name=ACTIVITY_PIPELINE_STATUS)
    async def check_status(self, call: StatusCheckCall) -> StageCheck:
        """Reconcile: GET the stage's status URL; a callback-shaped object at `callback_at` is the stage's outcome."""
        env = UsedEnv(self._settings.pipeline_env)
        ctx = Context(
            input=call.input,
            stages=call.earlier,
            env=env,
            idempotency_key=call.idempotency_key,
            workflow_id=call.workflow_id,
            stage=call.stage,
        )
        try:
            url = render_text(call.status.url, ctx, Place.STATUS_URL)
            headers = {k: render_text(v, ctx, Place.STATUS_HEADER) for k, v in call.status.headers.items()}
        except TemplateError as exc:
            raise _template_error(call.stage, exc) from None
        what = f"GET {call.status.url}"
        check_env(self._policy, what, url, env.used)
        try:
            response = await self._http.get(
                url, headers=headers, timeout=STATUS_TIMEOUT_SECONDS, follow_redirects=False
            )
        except httpx.HTTPError as exc:
            raise request_error(what, exc) from None
        raise_for_redirect(what, response)
        if response.status_code == 404:
            return StageCheck(job_found=False)
        if not response.is_success:
            raise ApplicationError(f"{what}: answered {response.status_code}", type=ERR_SERVICE_UNAVAILABLE)
        return _stage_check(call, response)


def _template_error(stage: str, exc: TemplateError) -> ApplicationError:
    return ApplicationError(
        f"stage {stage!r}: cannot build the request: {exc}", type=ERR_PIPELINE_TEMPLATE, non_retryable=True
    )


def _raise_for_answer(what: str, response: httpx.Response) -> None:
    raise_for_redirect(what, response)
    if response.status_code == 429 or response.status_code >= 500:
        raise ApplicationError(f"{what}: answered {response.status_code}", type=ERR_SERVICE_UNAVAILABLE)
    if response.status_code >= 400:
        raise ApplicationError(
            f"{what}: the service refused the request with {response.status_code}: {response.text[:300]}",
            type=ERR_SERVICE_REJECTED_REQUEST,
            non_retryable=True,
        )


def _answer_id(call: HttpStageCall, response: httpx.Response) -> Any:
    if call.answer_id is None:
        return None
    try:
        data = response.json()
        return lookup(data, call.answer_id.split("."), "the answer")
    except (ValueError, TemplateError) as exc:
        # The service took the work: the stage goes on and waits for its callback, without an answer id.
        activity.logger.warning("stage %s: no answer id at %r: %s", call.stage, call.answer_id, exc)
        return None


def _hook_key(call: HttpStageCall, response: httpx.Response) -> str | int:
    path = call.hook_key_path or ""
    try:
        value = lookup(response.json(), path.split(".") if path else [], "the answer")
    except (ValueError, TemplateError) as exc:
        raise ApplicationError(
            f"stage {call.stage!r}: wait.key: no key at {path or 'the answer'!r}: {exc}",
            type=ERR_NO_HOOK_KEY,
            non_retryable=True,
        ) from None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApplicationError(
            f"stage {call.stage!r}: wait.key: the answer's {path or 'body'} is not a string or integer",
            type=ERR_NO_HOOK_KEY,
            non_retryable=True,
        )
    return value


def _stage_check(call: StatusCheckCall, response: httpx.Response) -> StageCheck:
    try:
        data = response.json()
        found = lookup(data, call.status.callback_at.split("."), "the status") if call.status.callback_at else data
    except (ValueError, TemplateError):
        return StageCheck(job_found=True)  # nothing final there (yet)
    if not isinstance(found, Mapping):
        return StageCheck(job_found=True)
    try:
        status = CallbackStatus(found.get("status") or CallbackStatus.COMPLETED.value)
    except ValueError:
        return StageCheck(job_found=True)
    if status not in _FINAL:
        return StageCheck(job_found=True)
    activity.logger.info("stage %s: the service finished but its callback never arrived", call.stage)
    result = found.get("result")
    error = found.get("error")
    callback_id = found.get("callback_id")
    progress = found.get("progress")
    return StageCheck(
        job_found=True,
        callback=StageCallback(
            stage=call.stage,
            status=status,
            result=result if isinstance(result, dict) else None,
            error=error if isinstance(error, str) else None,
            callback_id=callback_id if isinstance(callback_id, str) and callback_id else None,
            progress=progress
            if isinstance(progress, int) and not isinstance(progress, bool) and progress >= 0
            else None,
            received_at=datetime.now(UTC).isoformat(),
        ),
    )
