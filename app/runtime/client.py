"""Connect a Temporal client from settings: the one helper every process uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime

from app.runtime.config import Settings


async def connect_client(
    settings: Settings, *, runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """Open a client to the configured Temporal address and namespace (TLS/API key from env config).

    `interceptors` (tracing) also apply to workers built on this client.
    """
    kwargs: dict[str, Any] = dict(settings.temporal.connect_kwargs)
    if runtime is not None:
        kwargs["runtime"] = runtime
    if interceptors:
        kwargs["interceptors"] = list(interceptors)
    return await Client.connect(settings.temporal.address, namespace=settings.temporal.namespace, **kwargs)
