"""Spans for completing activities by task token: the SDK's TracingInterceptor does not cover those client calls.

A token-mode callback ends in `AsyncActivityHandle.complete/fail/heartbeat/report_cancellation`; without this
interceptor the trace would show the callback request but not the Temporal call it made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from temporalio.client import (
    AsyncActivityIDReference,
    CompleteAsyncActivityInput,
    FailAsyncActivityInput,
    HeartbeatAsyncActivityInput,
    Interceptor,
    OutboundInterceptor,
    ReportCancellationAsyncActivityInput,
)

T = TypeVar("T")


class AsyncActivityTracingInterceptor(Interceptor):
    """Client interceptor: one CLIENT span around each async-activity call (complete, fail, heartbeat, cancel)."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Wrap the client's outbound calls."""
        return _AsyncActivityOutbound(next, self._tracer)


def _attributes(id_or_token: AsyncActivityIDReference | bytes) -> dict[str, str]:
    if isinstance(id_or_token, AsyncActivityIDReference):
        attributes = {"temporalActivityID": id_or_token.activity_id}
        if id_or_token.workflow_id is not None:
            attributes["temporalWorkflowID"] = id_or_token.workflow_id
        return attributes
    return {}  # a task token is opaque to clients (the callback request span names the workflow and stage)


class _AsyncActivityOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, tracer: Tracer) -> None:
        super().__init__(next)
        self._tracer = tracer

    async def _traced(
        self, name: str, id_or_token: AsyncActivityIDReference | bytes, call: Callable[[], Awaitable[T]]
    ) -> T:
        with self._tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=_attributes(id_or_token), set_status_on_exception=False
        ) as span:
            try:
                return await call()
            except Exception as err:
                span.set_status(Status(StatusCode.ERROR, f"{type(err).__name__}: {err}"))
                raise

    async def complete_async_activity(self, input: CompleteAsyncActivityInput) -> None:
        """`AsyncActivityHandle.complete`."""
        await self._traced("CompleteAsyncActivity", input.id_or_token, lambda: self.next.complete_async_activity(input))

    async def fail_async_activity(self, input: FailAsyncActivityInput) -> None:
        """`AsyncActivityHandle.fail`."""
        await self._traced("FailAsyncActivity", input.id_or_token, lambda: self.next.fail_async_activity(input))

    async def heartbeat_async_activity(self, input: HeartbeatAsyncActivityInput) -> None:
        """`AsyncActivityHandle.heartbeat`."""
        await self._traced(
            "HeartbeatAsyncActivity",
            input.id_or_token,
            lambda: self.next.heartbeat_async_activity(input),
        )

    async def report_cancellation_async_activity(self, input: ReportCancellationAsyncActivityInput) -> None:
        """`AsyncActivityHandle.report_cancellation`."""
        await self._traced(
            "ReportCancellationAsyncActivity",
            input.id_or_token,
            lambda: self.next.report_cancellation_async_activity(input),
        )
