"""Body-signature schemes by name. A new scheme is one module (headers, key format, verify) plus a line here.

Nothing else in stagegate compares a scheme by name: the callback server looks a scheme up here, asks it which
headers to read, parses configured keys with it once at start-up, and calls its `verify`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from app.callbacks.signatures import generic_hmac, github, slack, standard_webhooks, stripe, twilio, unsigned
from app.callbacks.signatures.types import SignatureScheme
from app.errors import SettingsError

__all__ = ["SCHEMES", "SignatureScheme", "configured", "parse_keys", "scheme"]

# Fixed schemes: one line each.
SCHEMES: dict[str, SignatureScheme] = {
    s.name: s
    for s in (
        standard_webhooks.SCHEME,
        stripe.SCHEME,
        github.SCHEME,
        slack.SCHEME,
        unsigned.SCHEME,  # `none`: configuration allows it only with a per-source opt-in
    )
}
# Schemes built from per-source options (header, encoding, ...): one line each.
CONFIGURABLE: dict[str, Callable[[Mapping[str, str]], SignatureScheme]] = {
    generic_hmac.NAME: generic_hmac.build,
    twilio.NAME: twilio.build,
}
# The scheme of senders named in callback URLs (`CALLBACK_WEBHOOK_SENDERS`).
DEFAULT_SCHEME = standard_webhooks.NAME


def scheme(name: str) -> SignatureScheme:
    """The scheme called `name`; SettingsError naming the known ones otherwise."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise SettingsError(f"unknown signature scheme {name!r}; known: {', '.join(known())}") from None


def known() -> list[str]:
    """Every scheme name, fixed or configurable."""
    return sorted({*SCHEMES, *CONFIGURABLE})


def configured(name: str, options: Mapping[str, str]) -> SignatureScheme:
    """The scheme `name` with its options (only configurable schemes take any); SettingsError otherwise."""
    if name in CONFIGURABLE:
        return CONFIGURABLE[name](options)
    found = scheme(name)
    if options:
        raise SettingsError(f"signature scheme {name!r} takes no options, got {', '.join(sorted(options))}")
    return found


def parse_keys(
    senders: Mapping[str, Sequence[str]], *, scheme_name: str = DEFAULT_SCHEME, setting: str
) -> dict[str, tuple[bytes, ...]]:
    """Every sender's configured key texts as secret bytes, checked once at start-up (SettingsError names which)."""
    parse = scheme(scheme_name).parse_key
    parsed: dict[str, tuple[bytes, ...]] = {}
    for name, texts in senders.items():
        try:
            parsed[name] = tuple(parse(text) for text in texts)
        except ValueError as exc:
            raise SettingsError(f"{setting}, sender {name!r}: {exc}") from exc
    return parsed
