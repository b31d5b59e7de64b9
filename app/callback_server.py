"""Entry point of the callback server: `python -m app.callback_server` (uvicorn, settings from the environment)."""

from __future__ import annotations

import structlog

from app.callbacks.server import create_app
from app.runtime.tracing import start_tracing

log = structlog.get_logger()


def main() -> None:
    """Entry point: `python -m app.callback_server`."""
    import uvicorn

    from app.runtime.config import load_settings
    from app.runtime.logs import configure_logging

    settings = load_settings()
    configure_logging(settings)
    if settings.using_dev_secret:
        log.warning("CALLBACK_SIGNING_SECRETS is not set: using the development secret")
    tracing = start_tracing(settings.tracing, component="stagegate-callback-server")
    try:
        uvicorn.run(
            create_app(settings, tracing=tracing),
            host=settings.callback_host,
            port=settings.callback_port,
            log_config=None,
            access_log=False,
            http=settings.callback_http,
            loop=settings.callback_loop,
        )
    finally:
        if tracing is not None:
            tracing.shutdown()


if __name__ == "__main__":
    main()
