"""Before starting runs: check the service and the callback server answer, so a dead stack is one clear line."""

from __future__ import annotations

import httpx

from app.config import Settings


async def check_services(settings: Settings, *, service: bool = True) -> str | None:
    """None when both answer /healthz; else a sentence naming what is down.

    `service=False` (pipeline runs, whose services are whatever their file names) checks the callback server only.
    """
    targets = {"service": settings.service_url} if service else {}
    targets["callback server"] = settings.callback_base_url
    async with httpx.AsyncClient(timeout=3.0) as http:
        for name, base in targets.items():
            try:
                response = await http.get(f"{base}/healthz")
            except httpx.HTTPError as exc:
                return f"the {name} at {base} is not reachable ({type(exc).__name__})"
            if not response.is_success:
                return f"the {name} at {base} answered {response.status_code} to /healthz"
    return None
