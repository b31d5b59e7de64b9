"""Body-signature schemes by name. A new scheme is one module (headers, key format, verify) plus a line here.

Nothing else in stagegate compares a scheme by name: the callback server looks a scheme up here, asks it which
headers to read, parses configured keys with it once at start-up, and calls its `verify`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from app.callbacks.signatures import standard_webhooks
from app.callbacks.signatures.types import SignedBody
from app.errors import SettingsError


@dataclass(frozen=True)
class SignatureScheme:
    """How one provider signs request bodies."""

    name: str
    # The (lower-case) headers it reads; a repeated one is refused, never picked.
    headers: tuple[str, ...]
    # A configured key's text -> its secret bytes; ValueError when the text is not such a key.
    parse_key: Callable[[str], bytes]
    # (headers, exact body, keys, now, tolerance seconds) -> the verified body, or a BodySignatureError.
    verify: Callable[[Mapping[str, str], bytes, Sequence[bytes], float, int], SignedBody]


SCHEMES: dict[str, SignatureScheme] = {
    scheme.name: scheme
    for scheme in (
        SignatureScheme(
            standard_webhooks.NAME, standard_webhooks.HEADERS, standard_webhooks.parse_key, standard_webhooks.check
        ),
    )
}
# The scheme of senders named in callback URLs (`CALLBACK_WEBHOOK_SENDERS`).
DEFAULT_SCHEME = standard_webhooks.NAME


def scheme(name: str) -> SignatureScheme:
    """The scheme called `name`; SettingsError naming the known ones otherwise."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise SettingsError(f"unknown signature scheme {name!r}; known: {', '.join(sorted(SCHEMES))}") from None


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
