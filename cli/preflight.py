"""Before starting runs: check the service and the callback server answer, so a dead stack is one clear line.

Uses the standard library's `http.client` (in a thread): two GETs do not need httpx, whose import alone costs
more CPU than the rest of a `cli start --no-wait`.
"""

from __future__ import annotations

import asyncio
import http.client
from urllib.parse import urlsplit

from app.runtime.config import Settings

TIMEOUT_SECONDS = 3.0


def _get_status(url: str) -> int:
    """The HTTP status of `GET url` (raises OSError / http.client.HTTPException when nothing answers)."""
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.netloc, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", parts.path or "/", headers={"Connection": "close"})
        return connection.getresponse().status
    finally:
        connection.close()


async def check_services(settings: Settings, *, service: bool = True) -> str | None:
    """None when both answer /healthz; else a sentence naming what is down.

    `service=False` (pipeline runs, whose services are whatever their file names) checks the callback server only.
    """
    targets = {"service": settings.service_url} if service else {}
    targets["callback server"] = settings.callback_base_url
    for name, base in targets.items():
        try:
            status = await asyncio.to_thread(_get_status, f"{base}/healthz")
        except (OSError, http.client.HTTPException) as exc:
            return f"the {name} at {base} is not reachable ({type(exc).__name__})"
        if not 200 <= status < 300:
            return f"the {name} at {base} answered {status} to /healthz"
    return None
