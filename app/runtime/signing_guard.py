"""Start-up check of the signing secret: no process signs or verifies with a secret from the source in the open.

The development secret is written in this repository, so a URL it signs proves nothing. The worker (which signs
callback URLs) and the callback server (which verifies them) therefore refuse to start unless either
`CALLBACK_SIGNING_SECRETS` holds real secrets, or `STAGEGATE_DEV_MODE=1` is set AND everything the process
listens on, or hands out, is a loopback address. A refusal is one line for the operator (`SettingsError`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from app.errors import SettingsError
from app.runtime.config import MIN_SIGNING_SECRET_BYTES, Settings

LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for a loopback address (127.0.0.0/8, ::1) or `localhost`; `0.0.0.0`, `::` and other names are not."""
    host = host.strip().strip("[]").lower()
    if host in LOCALHOST_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name we do not resolve here: it may point anywhere


def _bind_host(bind: str) -> str:
    """The host of `host:port` or `[v6]:port`."""
    host, _, _ = bind.rpartition(":")
    return host or bind


def worker_endpoints(settings: Settings) -> dict[str, str]:
    """What a worker exposes: its metrics listener, and the callback base URL it puts into signed URLs."""
    return {
        "WORKER_METRICS_BIND": _bind_host(settings.worker_metrics_bind),
        "CALLBACK_BASE_URL": urlsplit(settings.callback_base_url).hostname or "",
    }


def callback_server_endpoints(settings: Settings) -> dict[str, str]:
    """What a callback server exposes: its listening address."""
    return {"CALLBACK_HOST": settings.callback_host}


def check_signing(settings: Settings, endpoints: Mapping[str, str]) -> None:
    """Refuse (SettingsError, one line) to run without real secrets, or with the dev secret off loopback."""
    if settings.signing_mode == "configured":
        return
    if settings.signing_mode == "none":
        raise SettingsError(
            f"CALLBACK_SIGNING_SECRETS is not set: set it to one or more random secrets of at least "
            f"{MIN_SIGNING_SECRET_BYTES} bytes (`openssl rand -hex 32`), or set STAGEGATE_DEV_MODE=1 for a "
            "loopback-only development stack"
        )
    exposed = [f"{name}={host or '(empty)'}" for name, host in endpoints.items() if not is_loopback(host)]
    if exposed:
        raise SettingsError(
            "STAGEGATE_DEV_MODE signs with a secret written in the source, so it runs on loopback only, but "
            f"{', '.join(exposed)}: set CALLBACK_SIGNING_SECRETS (`openssl rand -hex 32`)"
        )
