"""Entry point: `python -m service_mock` serves the mock with uvicorn, configured from the environment."""

from __future__ import annotations

import sys

import uvicorn

from service_mock.config import SettingsError, load_settings
from service_mock.logs import configure_logging, get_logger
from service_mock.server import create_app
from service_mock.tracing import start_tracing


def main() -> int:
    """Load settings, set up logging, and serve until interrupted."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"service_mock: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    get_logger(__name__).info("service mock starting", host=settings.host, port=settings.port)
    provider = start_tracing(settings.tracing)
    try:
        # log_config=None keeps uvicorn from replacing the structlog handlers configured above.
        uvicorn.run(
            create_app(settings, tracer_provider=provider),
            host=settings.host,
            port=settings.port,
            log_config=None,
            log_level=settings.log_level.lower(),
            access_log=True,
        )
    finally:
        if provider is not None:
            provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
