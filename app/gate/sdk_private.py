"""The only place stagegate uses private names of the Temporal SDK, each for lack of a public equivalent.

`tests/app/test_sdk_private.py` calls every function here against the pinned SDK, so an SDK upgrade that
renames or changes one fails that test by name instead of failing a stage at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def registered_activity_name(activity: Callable[..., Any]) -> str:
    """The name an `@activity.defn` function is registered under (its `name=` or its own name).

    The SDK keeps it on a private `_Definition`; there is no public accessor. The gate starts activities by
    this name so that their result is decoded as the gate's envelope, not as the function's return type.
    """
    from temporalio.activity import _Definition

    return _Definition.must_from_callable(activity).name or activity.__name__


def tracing_interceptor_active() -> bool:
    """True inside a workflow whose worker runs Temporal's OpenTelemetry TracingInterceptor.

    The interceptor registers itself on the workflow's context under a private accessor; without it,
    `completed_span` falls back to the global tracer and warns.
    """
    from temporalio.contrib.opentelemetry import TracingWorkflowInboundInterceptor

    return TracingWorkflowInboundInterceptor._from_context() is not None


def start_operation_future(start: Any) -> Any:
    """The future a `WithStartWorkflowOperation` keeps for its workflow handle (None if the SDK has none).

    A failed update-with-start sets its failure there too, and no public call reads it unless the caller awaits
    `workflow_handle()`; asyncio then logs "Future exception was never retrieved" for every failed call.
    """
    return getattr(start, "_workflow_handle", None)
