"""Before starting runs: check the service and the callback server answer, so a dead stack is one clear line.

Two GETs whose status line is all we read, on the event loop the command runs anyway (asyncio streams): no
httpx (its import alone costs more CPU than the rest of a `cli start --no-wait`), and no `http.client`, whose
import (the `email` package) and worker thread were ~10 % of that command's CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from app.runtime.config import Settings

TIMEOUT_SECONDS = 3.0


class NoHttpAnswerError(Exception):
    """The peer closed the connection without an HTTP status line, or answered something that is not HTTP."""


async def _get_status(url: str) -> int:
    """The HTTP status of `GET url` (raises OSError, TimeoutError or NoHttpAnswerError when nothing answers)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    ssl_context = None
    if https:
        import ssl  # only for an https URL: the defaults are plain HTTP on loopback

        ssl_context = ssl.create_default_context()
    port = parts.port or (443 if https else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=ssl_context)
    try:
        request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        await writer.drain()
        status_line = await reader.readline()  # "HTTP/1.1 200 OK\r\n"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/") or not code.isdigit():
        raise NoHttpAnswerError(status_line[:80].decode("latin-1") or "connection closed")
    return int(code)


async def _check(name: str, base: str) -> str | None:
    try:
        status = await asyncio.wait_for(_get_status(f"{base}/healthz"), TIMEOUT_SECONDS)
    except (OSError, NoHttpAnswerError) as exc:  # TimeoutError is an OSError
        return f"the {name} at {base} is not reachable ({type(exc).__name__})"
    if not 200 <= status < 300:
        return f"the {name} at {base} answered {status} to /healthz"
    return None


async def check_services(settings: Settings, *, service: bool = True) -> str | None:
    """None when both answer /healthz; else a sentence naming what is down (the service first).

    `service=False` (pipeline runs, whose services are whatever their file names) checks the callback server only.
    """
    targets = {"service": settings.service_url} if service else {}
    targets["callback server"] = settings.callback_base_url
    problems = await asyncio.gather(*(_check(name, base) for name, base in targets.items()))
    return next((p for p in problems if p), None)
