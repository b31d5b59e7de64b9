"""Serve the fake vendors on one port, to try the examples in pipelines/*_style.yaml by hand.

uv run python -m tests.vendors.serve [--port 8010] [--hooks-url http://127.0.0.1:8000/hooks/pay]
    [--sms-hooks-url http://127.0.0.1:8000/hooks/sms]

The Stripe-style fake sends its events to `--hooks-url` (the callback server's fixed endpoint for source `pay`),
signed with `STRIPE_SECRET`: give the callback server the matching source (`HOOK_ENV`, also in the header of
pipelines/stripe_style.yaml). The Twilio-style account (routes under `/account-wide`) sends its form-encoded
status callbacks to `--sms-hooks-url`, signed with `TWILIO_AUTH_TOKEN` over that same URL (`SMS_HOOK_ENV`, also
in the header of pipelines/twilio_fixed_style.yaml).
"""

from __future__ import annotations

import argparse

from litestar import Litestar
from litestar.datastructures import State

from tests.vendors import assembly_like, replicate_like, stripe_like, twilio_account, twilio_like
from tests.vendors.common import Deliveries

DEFAULT_PORT = 8010
DEFAULT_HOOKS_URL = "http://127.0.0.1:8000/hooks/pay"
DEFAULT_SMS_HOOKS_URL = "http://127.0.0.1:8000/hooks/sms"
# The example's endpoint secret: a test value, never a real vendor's.
STRIPE_SECRET = "whsec_stagegate_example_only"
# The callback server's environment for the example's source `pay` (pipelines/stripe_style.yaml).
HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "pay:stripe",
    "STAGEGATE_HOOK_PAY_SECRET": STRIPE_SECRET,
    "STAGEGATE_HOOK_PAY_KEY_PATH": "data.object.id",
    "STAGEGATE_HOOK_PAY_EVENT_ID_PATH": "id",
}
# The Twilio-style example's Auth Token (a test value) and its source `sms` (pipelines/twilio_fixed_style.yaml).
TWILIO_AUTH_TOKEN = "twilio_auth_token_example_only"
SMS_HOOK_ENV = {
    "STAGEGATE_HOOK_SOURCES": "sms:twilio",
    "STAGEGATE_HOOK_SMS_SECRET": TWILIO_AUTH_TOKEN,
    "STAGEGATE_HOOK_SMS_KEY_PATH": "MessageSid",
    "STAGEGATE_HOOK_SMS_OPT_URL": DEFAULT_SMS_HOOKS_URL,
}


def create_app(
    deliveries: Deliveries | None = None, hooks_url: str = DEFAULT_HOOKS_URL, sms_hooks_url: str = DEFAULT_SMS_HOOKS_URL
) -> Litestar:
    """All the fakes in one app (their paths do not overlap); `state.stripe.endpoint` may be changed later."""
    log = deliveries or Deliveries(delay=1.0)
    replicate = replicate_like.Replicate(log)
    assembly = assembly_like.Assembly(log)
    twilio = twilio_like.Twilio(log)
    stripe = stripe_like.Stripe(log, STRIPE_SECRET, endpoint=hooks_url)
    account = twilio_account.TwilioAccount(log, TWILIO_AUTH_TOKEN, endpoint=sms_hooks_url)
    return Litestar(
        route_handlers=[
            replicate_like.create_router(replicate),
            assembly_like.create_router(assembly),
            twilio_like.create_router(twilio),
            stripe_like.create_router(stripe),
            twilio_account.create_router(account),
        ],
        on_shutdown=[
            replicate.background.stop,
            assembly.background.stop,
            twilio.background.stop,
            stripe.background.stop,
            account.background.stop,
        ],
        logging_config=None,
        state=State({"fakes": (replicate, assembly, twilio), "stripe": stripe, "twilio_account": account}),
    )


def main() -> None:
    """Entry point."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--hooks-url", default=DEFAULT_HOOKS_URL, help="where the Stripe-style fake sends events")
    parser.add_argument(
        "--sms-hooks-url", default=DEFAULT_SMS_HOOKS_URL, help="the Twilio-style account's status callback URL"
    )
    args = parser.parse_args()
    uvicorn.run(
        create_app(hooks_url=args.hooks_url, sms_hooks_url=args.sms_hooks_url), host="127.0.0.1", port=args.port
    )


if __name__ == "__main__":
    main()
