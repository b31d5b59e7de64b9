"""Connect a Temporal client from settings: the one helper every process uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime

from app.runtime.config import Settings
from app.runtime.data_converter import DATA_CONVERTER


async def connect_client(
    settings: Settings, *, runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """Open a client to the configured Temporal address and namespace (TLS/API key from env config).

    `interceptors` (tracing) also apply to workers built on this client. Its data converter is the SDK's
    default with failure details read leniently (`app.runtime.data_converter`), so workers built on it never
    fail a workflow task on another SDK's failure details.
    """
    kwargs: dict[str, Any] = {"data_converter": DATA_CONVERTER, **settings.temporal.connect_kwargs}
    if runtime is not None:
        kwargs["runtime"] = runtime
    if interceptors:
        kwargs["interceptors"] = list(interceptors)
    return await Client.connect(settings.temporal.address, namespace=settings.temporal.namespace, **kwargs)
