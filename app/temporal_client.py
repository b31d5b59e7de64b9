"""Connect a Temporal client from settings: the one helper every process uses."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime

from app.config import Settings


async def connect_client(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Open a client to the configured Temporal address and namespace (TLS/API key from env config)."""
    kwargs: dict[str, Any] = dict(settings.temporal.connect_kwargs)
    if runtime is not None:
        kwargs["runtime"] = runtime
    return await Client.connect(settings.temporal.address, namespace=settings.temporal.namespace, **kwargs)
