"""The `none` scheme: events taken unsigned. Only for a source whose operator opted in, visibly.

Configuration refuses it unless `STAGEGATE_HOOK_<NAME>_ALLOW_UNSIGNED=1` is set for that very source; the
callback server logs every such source at start and lists it in `/readyz` (`unsigned_hook_sources`). For
senders that cannot sign at all, behind a network boundary that does the authentication.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.callbacks.signatures.types import SignatureScheme, SignedBody

NAME = "none"


def parse_key(text: str) -> bytes:
    """No key verifies anything here: configuring one is a mistake worth stopping for."""
    del text
    raise ValueError("the scheme 'none' takes no secret")


def check(headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float, tolerance: int) -> SignedBody:
    """Every body passes: nothing is signed."""
    del headers, body, secrets, now, tolerance
    return SignedBody()


SCHEME = SignatureScheme(NAME, (), parse_key, check)
