"""Drive a Litestar app over HTTP on the test's own event loop (no thread, unlike Litestar's test client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar


def asgi_client(app: Litestar, base_url: str = "http://test") -> httpx.AsyncClient:
    """An httpx client whose requests go straight into `app`."""
    # Litestar types its ASGI callable precisely, httpx loosely: the two are compatible at run time.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@asynccontextmanager
async def serving(app: Litestar, *, timeout: float = 10.0, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` over real HTTP on loopback (`port`, else a free one), on the test's own loop; yields its URL."""
    import uvicorn

    from tests.stack import free_port

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(timeout):
            while not server.started:
                if task.done():
                    task.result()  # raises why it could not start
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout)
