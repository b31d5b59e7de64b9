"""Drive a Litestar app over HTTP on the test's own event loop (no thread, unlike Litestar's test client)."""

from __future__ import annotations

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
    from tests.stack import serve_asgi

    async with serve_asgi(app, timeout=timeout, port=port) as url:
        yield url
