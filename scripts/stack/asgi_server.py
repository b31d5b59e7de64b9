"""Serve an ASGI app over real HTTP on a loopback port, on the caller's own event loop (uvicorn, no thread).

Scripts use it for their stub services and listeners; `tests/asgi.py` for the apps under test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from scripts.stack.processes import free_port


@asynccontextmanager
async def serving(app: Any, *, timeout: float = 30.0, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` on `port` (else a free one) for the block; yields its URL. Startup and shutdown are bounded by
    `timeout`; a server that cannot start raises why."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(timeout):
            while not server.started:  # uvicorn offers no event for this
                if task.done():
                    task.result()  # raises why it could not start
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout)
