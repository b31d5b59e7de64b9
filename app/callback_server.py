"""Entry point of the callback server: `python -m app.callback_server` (uvicorn, settings from the environment)."""

from __future__ import annotations

import sys

import structlog

from app.callbacks.http_protocol import ConnectionLimits, guarded_protocol
from app.callbacks.server import create_app
from app.runtime.tracing import start_tracing

log = structlog.get_logger()


def main() -> None:
    """Entry point: `python -m app.callback_server`."""
    import uvicorn

    from app.errors import SettingsError
    from app.runtime.config import load_settings
    from app.runtime.logs import configure_logging
    from app.runtime.signing_guard import callback_server_endpoints, check_signing

    try:
        settings = load_settings()
        check_signing(settings, callback_server_endpoints(settings))
    except SettingsError as err:
        sys.exit(f"stagegate callback server: {err}")  # one line on stderr, exit code 1
    configure_logging(settings)
    log.info(
        "callback server starting",
        host=settings.callback_host,
        port=settings.callback_port,
        signing=settings.signing_mode,
    )
    if settings.signing_mode == "development":
        log.warning("STAGEGATE_DEV_MODE: callback URLs verify against the development secret (loopback only)")
    tracing = start_tracing(settings.tracing, component="stagegate-callback-server")
    limits = ConnectionLimits(
        header_timeout=settings.callback_header_timeout_seconds,
        body_timeout=settings.callback_body_timeout_seconds,
        max_connections=settings.callback_max_connections,
        retry_after_seconds=settings.callback_retry_after_seconds,
    )
    if settings.callback_http == "httptools":
        log.warning("CALLBACK_HTTP=httptools: no header/body read deadlines, connection cap or JSON parse errors")
    try:
        uvicorn.run(
            create_app(settings, tracing=tracing),
            host=settings.callback_host,
            port=settings.callback_port,
            log_config=None,
            access_log=False,
            # h11 (the default, `auto` included) runs as GuardedH11Protocol: app/callbacks/http_protocol.py.
            http="httptools" if settings.callback_http == "httptools" else guarded_protocol(limits),
            loop=settings.callback_loop,
            ws="none",  # no WebSocket upgrades: every answer is HTTP with a JSON body
            timeout_keep_alive=settings.callback_keepalive_timeout_seconds,
            h11_max_incomplete_event_size=settings.callback_max_header_bytes,
        )
    finally:
        if tracing is not None:
            tracing.shutdown()


if __name__ == "__main__":
    main()
