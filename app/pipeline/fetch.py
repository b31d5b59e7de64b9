"""Notify, then fetch (activity side): GET the stage's result after its callback said "done", and read the answer.

The URL and headers are templates (`app.pipeline.template`, the pipelines' syntax), filled in here, in the
worker, so `${env...}` values (API keys) never enter workflow history; errors name the template, never the
filled-in URL. Register `FetchActivity(settings, http).fetch_result` on every worker whose stages fetch
(`app.worker` does). A "not finished yet" answer is a retryable error: the gate's retry policy tries again,
inside the stage's time.

The GET obeys the pipelines' egress policy (`app.pipeline.egress`, `app.pipeline.outbound`) whichever way the
stage was defined: `http` should be the worker's `egress_client` (every connection's address checked after
DNS), `${env...}` values go only to their bound hosts, and a refusal or a 3xx answer fails the stage at once
with a clear error (never followed, never retried).
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.errors import CallbackRefusedError, TemplateError
from app.gate.fetching import ACTIVITY_FETCH_RESULT
from app.gate.shapes import FetchCall, FetchResult, Meaning, as_result, read
from app.gate.types import ERR_SERVICE_REJECTED_REQUEST, ERR_SERVICE_UNAVAILABLE
from app.pipeline.egress import EgressPolicy
from app.pipeline.outbound import UsedEnv, check_env, raise_for_redirect, request_error
from app.pipeline.template import Context, Place, render_text
from app.pipeline.types import ERR_PIPELINE_TEMPLATE, StageOutput
from app.runtime.config import Settings

# ApplicationError types of the fetch: the answer cannot be read (final), or says the work is not done (retried).
ERR_FETCHED_ANSWER_UNREADABLE = "FetchedAnswerUnreadable"
ERR_RESULT_NOT_READY = "ResultNotReady"
FETCH_TIMEOUT_SECONDS = 25.0


class FetchActivity:
    """The fetch activity, bound to one worker's settings (its exposed environment) and shared httpx client."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, policy: EgressPolicy | None = None) -> None:
        """`http` should come from `app.pipeline.egress.egress_client` (the worker's does): it checks addresses."""
        self._settings = settings
        self._http = http
        self._policy = policy or EgressPolicy.from_settings(settings)

    @activity.defn(name=ACTIVITY_FETCH_RESULT)
    async def fetch_result(self, call: FetchCall) -> FetchResult:
        """GET the stage's fetch URL; the answer's outcome, result and error (as its `answer` shape reads them)."""
        context = call.context
        env = UsedEnv(self._settings.pipeline_env)
        ctx = Context(
            input=context.input if context is not None else {},
            stages={name: _output(raw) for name, raw in (context.earlier if context is not None else {}).items()},
            env=env,
            idempotency_key=call.idempotency_key,
            workflow_id=call.workflow_id,
            stage=call.stage,
            answer_id=call.answer_id,
            callback=call.callback,
        )
        spec = call.fetch
        try:
            url = render_text(spec.url, ctx, Place.FETCH_URL)
            headers = {k: render_text(v, ctx, Place.FETCH_HEADER) for k, v in spec.headers.items()}
        except TemplateError as exc:
            message = f"stage {call.stage!r}: cannot build the fetch: {exc}"
            raise ApplicationError(message, type=ERR_PIPELINE_TEMPLATE, non_retryable=True) from None
        what = f"GET {spec.url}"
        timeout = min(self._settings.service_request_timeout_seconds, FETCH_TIMEOUT_SECONDS)
        check_env(self._policy, what, url, env.used)
        try:
            response = await self._http.get(url, headers=headers, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise request_error(what, exc) from None
        raise_for_redirect(what, response)
        if response.status_code == 429 or response.status_code >= 500:
            raise ApplicationError(f"{what}: answered {response.status_code}", type=ERR_SERVICE_UNAVAILABLE)
        if response.status_code >= 400:
            raise ApplicationError(
                f"{what}: the service refused with {response.status_code}: {response.text[:300]}",
                type=ERR_SERVICE_REJECTED_REQUEST,
                non_retryable=True,
            )
        return _read_answer(call, what, response)


def _read_answer(call: FetchCall, what: str, response: httpx.Response) -> FetchResult:
    try:
        data = response.json()
    except ValueError:
        raise ApplicationError(
            f"{what}: the answer is not JSON", type=ERR_FETCHED_ANSWER_UNREADABLE, non_retryable=True
        ) from None
    shape = call.fetch.answer
    if shape is None:
        return FetchResult(Meaning.COMPLETED, as_result(data))
    try:
        reading = read(shape, data, {k.lower(): v for k, v in response.headers.items()})
    except CallbackRefusedError as exc:
        raise ApplicationError(
            f"{what}: {exc.message}", type=ERR_FETCHED_ANSWER_UNREADABLE, non_retryable=True
        ) from None
    if reading.meaning in (Meaning.PROGRESS, Meaning.IGNORE):
        raise ApplicationError(f"{what}: not finished yet ({reading.value!r})", type=ERR_RESULT_NOT_READY)
    activity.logger.info("stage %s: fetched the result (%s)", call.stage, reading.value)
    return FetchResult(reading.meaning, reading.result, reading.error)


def _output(raw: Any) -> StageOutput:
    if isinstance(raw, StageOutput):
        return raw
    return StageOutput(**raw)
