"""The SDK's private names stagegate relies on (all in app.gate.sdk_private) still exist in the pinned SDK.

When an upgrade breaks one, this fails by name; the workflow-level proof that they behave is in the gate's
and tracing's own tests (StageResumed spans, activities started by name).
"""

from __future__ import annotations

import inspect

import pytest
from temporalio import activity
from temporalio.contrib.opentelemetry import TracingWorkflowInboundInterceptor

from app.gate.sdk_private import registered_activity_name, start_operation_future


@activity.defn(name="renamed_for_the_test")
async def _named() -> None: ...


@activity.defn
async def _plain() -> None: ...


def test_registered_activity_name_reads_the_sdks_definition() -> None:
    assert registered_activity_name(_named) == "renamed_for_the_test"
    assert registered_activity_name(_plain) == "_plain"


def test_registered_activity_name_refuses_a_function_that_is_not_an_activity() -> None:
    async def not_an_activity() -> None: ...

    with pytest.raises(TypeError):
        registered_activity_name(not_an_activity)


async def test_a_start_operation_still_keeps_its_handle_future() -> None:
    import asyncio

    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    start: WithStartWorkflowOperation[None, None] = WithStartWorkflowOperation(
        "Any", id="x", task_queue="q", id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
    )
    future = start_operation_future(start)
    assert isinstance(future, asyncio.Future), "temporalio renamed WithStartWorkflowOperation._workflow_handle"


def test_tracing_interceptor_still_has_its_context_accessor() -> None:
    accessor = getattr(TracingWorkflowInboundInterceptor, "_from_context", None)
    assert accessor is not None, "temporalio renamed TracingWorkflowInboundInterceptor._from_context"
    assert not inspect.signature(accessor).parameters, "_from_context now takes arguments"
