"""Serve the fake vendors on one port, to try the examples in pipelines/*_style.yaml by hand.

uv run python -m tests.vendors.serve [--port 8010] [--hooks-url http://127.0.0.1:8000/hooks/pay]

The Stripe-style fake sends its events to `--hooks-url` (the callback server's fixed endpoint for source `pay`),
signed with `STRIPE_SECRET`: give the callback server the matching source (`HOOK_ENV`, also in the header of
pipelines/stripe_style.yaml).
"""

from __future__ import annotations

import argparse

from litestar import Litestar
from litestar.datastructures import State

from tests.vendors import assembly_like, replicate_like, stripe_like, twilio_like
from tests.vendors.common import Deliveries

DEFAULT_PORT = 8010
DEFAULT_HOOKS_URL = "http://127.0.0.1:8000/hooks/pay"
# The example's endpoint secret: a test value, never a real vendor's.
STRIPE_SECRET = "whsec_stagegate_example_only"
# The callback server's environment for the example's source `pay` (pipelines/stripe_style.yaml).
HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "pay:stripe",
    "STAGEGATE_HOOK_PAY_SECRET": STRIPE_SECRET,
    "STAGEGATE_HOOK_PAY_KEY_PATH": "data.object.id",
    "STAGEGATE_HOOK_PAY_EVENT_ID_PATH": "id",
}


def create_app(deliveries: Deliveries | None = None, hooks_url: str = DEFAULT_HOOKS_URL) -> Litestar:
    """All the fakes in one app (their paths do not overlap); `state.stripe.endpoint` may be changed later."""
    log = deliveries or Deliveries(delay=1.0)
    replicate = replicate_like.Replicate(log)
    assembly = assembly_like.Assembly(log)
    twilio = twilio_like.Twilio(log)
    stripe = stripe_like.Stripe(log, STRIPE_SECRET, endpoint=hooks_url)
    return Litestar(
        route_handlers=[
            replicate_like.create_router(replicate),
            assembly_like.create_router(assembly),
            twilio_like.create_router(twilio),
            stripe_like.create_router(stripe),
        ],
        on_shutdown=[
            replicate.background.stop,
            assembly.background.stop,
            twilio.background.stop,
            stripe.background.stop,
        ],
        logging_config=None,
        state=State({"fakes": (replicate, assembly, twilio), "stripe": stripe}),
    )


def main() -> None:
    """Entry point."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--hooks-url", default=DEFAULT_HOOKS_URL, help="where the Stripe-style fake sends events")
    args = parser.parse_args()
    uvicorn.run(create_app(hooks_url=args.hooks_url), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
