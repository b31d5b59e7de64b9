"""Drive a Litestar app over HTTP on the test's own event loop (no thread, unlike Litestar's test client)."""

from __future__ import annotations

import httpx
from litestar import Litestar


def asgi_client(app: Litestar, base_url: str = "http://test") -> httpx.AsyncClient:
    """An httpx client whose requests go straight into `app`."""
    # Litestar types its ASGI callable precisely, httpx loosely: the two are compatible at run time.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=base_url)
