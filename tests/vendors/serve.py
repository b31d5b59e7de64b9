"""Serve the three fake vendors on one port, to try the examples in pipelines/*_style.yaml by hand.

uv run python -m tests.vendors.serve [--port 8010]
"""

from __future__ import annotations

import argparse

from litestar import Litestar
from litestar.datastructures import State

from tests.vendors import assembly_like, replicate_like, twilio_like
from tests.vendors.common import Deliveries

DEFAULT_PORT = 8010


def create_app(deliveries: Deliveries | None = None) -> Litestar:
    """All three fakes in one app (their paths do not overlap)."""
    log = deliveries or Deliveries(delay=1.0)
    replicate = replicate_like.Replicate(log)
    assembly = assembly_like.Assembly(log)
    twilio = twilio_like.Twilio(log)
    return Litestar(
        route_handlers=[
            replicate_like.create_router(replicate),
            assembly_like.create_router(assembly),
            twilio_like.create_router(twilio),
        ],
        on_shutdown=[replicate.background.stop, assembly.background.stop, twilio.background.stop],
        logging_config=None,
        state=State({"fakes": (replicate, assembly, twilio)}),
    )


def main() -> None:
    """Entry point."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
