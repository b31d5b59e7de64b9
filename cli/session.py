"""What every command that talks to Temporal shares: the settings, the client, the event loop, tracing.

Kept apart from `cli.operations` so `cli start` imports only this, `cli.starting` and what they need: a
`start --no-wait` process loads no Rich, no pipeline types, no status or report code (each costs CPU in every
`cli` process, and a cron burst runs many).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from app.errors import SettingsError
from app.runtime.client import connect_client
from app.runtime.config import Settings, load_settings
from cli.errors import CliError
from cli.preflight import check_services

if TYPE_CHECKING:
    from app.runtime.tracing import Tracing

T = TypeVar("T")

# Tracing opened by this command: flushed by `shutdown_tracing` from cli.main's exit, which skips interpreter
# teardown (and so atexit handlers).
_open_tracing: list[Tracing] = []


def for_starting(client: Client, settings: Settings) -> Client:
    """With tracing on (OTEL_*), the start call opens the run's trace; polling afterwards stays untraced.

    app.runtime.tracing (OpenTelemetry's SDK and exporters) is imported only when tracing is on: start-up stays light.
    """
    if not settings.tracing.enabled:
        return client
    from app.runtime.tracing import start_tracing, traced_client

    tracing = start_tracing(settings.tracing, component="stagegate-cli")
    if tracing is None:
        return client
    _open_tracing.append(tracing)
    return traced_client(client, tracing)


def shutdown_tracing() -> None:
    """Export the spans still buffered (called right before the process exits)."""
    while _open_tracing:
        _open_tracing.pop().shutdown()


def ui_link(ui_url: str, namespace: str, workflow_id: str) -> str:
    """Where the run lives in the Temporal Web UI."""
    return f"{ui_url}/namespaces/{namespace}/workflows/{workflow_id}"


def settings() -> Settings:
    """The environment, read once, or a one-line configuration error."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise CliError(f"configuration: {exc}") from exc


async def connect(settings: Settings) -> Client:
    """A client, or a one-line error that names the address and what to do."""
    try:
        return await asyncio.wait_for(connect_client(settings), timeout=15)
    except (TimeoutError, RuntimeError, RPCError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(
            f"cannot reach Temporal at {settings.temporal.address} (namespace {settings.temporal.namespace}): "
            f"{reason[:200]}. Is it running? (`just up`)"
        ) from exc


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine; Temporal's RPC errors become one-line CLI errors."""
    # The command's imports are done: collect garbage again, leaving what they loaded out of every pass.
    gc.freeze()
    gc.enable()
    try:
        return asyncio.run(coro)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CliError(f"not found: {exc.message}") from exc
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise CliError(f"Temporal is not answering: {exc.message}") from exc
        raise CliError(f"Temporal said {exc.status.name}: {exc.message}") from exc


async def checked_client(settings: Settings, *, preflight: bool, service: bool = True) -> Client:
    """Connect while the preflight check runs (both are network waits); a dead stack is reported first."""
    connecting = asyncio.ensure_future(connect(settings))
    try:
        if preflight:
            problem = await check_services(settings, service=service)
            if problem:
                raise CliError(f"{problem} (start the stack with `just up`, or pass --no-preflight)")
        return await connecting
    finally:
        if not connecting.done():
            connecting.cancel()
