"""Notify, then fetch (workflow side): after a completed callback, the fetch activity GETs the stage's result.

The fetch runs inside the stage's remaining time, retried like the stage's request; what it answers replaces
the callback's result (or fails or cancels the stage). Token mode needs no task token for it: the callback
already completed the stage activity, and the fetch is an activity of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from app.errors import InvalidCallbackError
from app.gate import completions, rules
from app.gate.shapes import FetchCall, FetchContext, FetchResult, FetchSpec, Meaning
from app.gate.types import AdvancedBy, Outcome, StageRecord

# The worker registers the fetch activity under this name (`app.pipeline.fetch.FetchActivity`).
ACTIVITY_FETCH_RESULT = "stagegate_fetch_result"
# v6: the fetch is a new command; runs recorded before it never took this branch (no stage had `fetch`).
PATCH_FETCH_AFTER_NOTIFY = "stagegate-fetch-after-notify"
FETCH_START_TO_CLOSE = timedelta(seconds=30)
_OUTCOMES = {Meaning.COMPLETED: Outcome.COMPLETED, Meaning.FAILED: Outcome.FAILED, Meaning.CANCELLED: Outcome.CANCELLED}


async def fetch_after_notify(
    record: StageRecord,
    spec: FetchSpec,
    *,
    idempotency_key: str,
    deadline: datetime,
    retry_policy: RetryPolicy,
    context: FetchContext | None,
) -> None:
    """A completed stage with a fetch: GET the result now, and let the answer decide how the stage ends."""
    if not workflow.patched(PATCH_FETCH_AFTER_NOTIFY):
        return
    remaining = deadline - workflow.now()
    if remaining <= timedelta(0):
        _end(record, Outcome.TIMED_OUT, f"stage {record.stage}: no time left to fetch the result")
        return
    call = FetchCall(
        fetch=spec,
        stage=rules.stage_id(record.stage),
        workflow_id=workflow.info().workflow_id,
        idempotency_key=idempotency_key,
        answer_id=record.request_result,
        callback=record.result,
        context=context,
    )
    try:
        raw = await workflow.execute_activity(
            ACTIVITY_FETCH_RESULT,
            call,
            result_type=RawValue,  # read below: a result that is no FetchResult must not fail the task
            schedule_to_close_timeout=remaining,
            start_to_close_timeout=min(FETCH_START_TO_CLOSE, remaining),
            retry_policy=retry_policy,
        )
    except ActivityError as err:
        cause = err.cause
        why = cause.message if isinstance(cause, ApplicationError | TemporalTimeoutError) else str(cause or err)
        if isinstance(cause, TemporalTimeoutError):
            _end(record, Outcome.TIMED_OUT, f"stage {record.stage}: fetching the result did not finish in time: {why}")
        else:
            _end(record, Outcome.FAILED, f"stage {record.stage}: fetching the result failed: {why}")
        return
    try:
        value = completions.decode(raw, workflow.payload_converter())
        answer = completions.read_typed(FetchResult, value, "the fetch activity's result")
    except InvalidCallbackError as err:
        _end(record, Outcome.FAILED, f"stage {record.stage}: the fetched result cannot be used: {err}")
        return
    if answer.meaning not in _OUTCOMES:
        _end(record, Outcome.FAILED, f"stage {record.stage}: the fetched result means {answer.meaning.value!r}")
        return
    record.outcome = _OUTCOMES[answer.meaning]
    record.result = answer.result
    if record.outcome is not Outcome.COMPLETED:
        record.error = answer.error or f"the fetched result says stage {record.stage!r} {answer.meaning.value}"
    record.advanced_at = workflow.now().isoformat()


def _end(record: StageRecord, outcome: Outcome, error: str) -> None:
    record.outcome = outcome
    record.error = error
    record.advanced_at = workflow.now().isoformat()
    if outcome is Outcome.TIMED_OUT:
        record.advanced_by = AdvancedBy.TIMEOUT
