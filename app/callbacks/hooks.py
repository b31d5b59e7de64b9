"""Fixed endpoints `POST /hooks/{source}`: one URL per vendor account, the vendor's own signature, its own IDs.

A source (configured in `app.runtime.config`, `STAGEGATE_HOOK_SOURCES`) names a signature scheme from the
registry, its keys, and two dotted paths (`app.gate.paths`) into the event: the correlation key (which waiting
stage it is for, e.g. Stripe's `data.object.id`) and the event ID (the dedupe key, e.g. `id`). Everything is
parsed once at start-up, so a bad scheme, key, option or path stops the server with a SettingsError.

A request is: source known (else 404) -> signature verified on the exact bytes (401/400/403 by type) -> JSON
object (or form fields, for `application/x-www-form-urlencoded`) with a correlation key (else 400) -> handed
to the delivery. Until correlation through Temporal is built, the default delivery answers 501
`correlation_not_configured`: a verified event is never dropped silently, the vendor keeps retrying it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.callbacks.body_check import signature_headers_of
from app.callbacks.shapes import decode_body
from app.callbacks.signatures.registry import configured
from app.callbacks.signatures.types import SignatureScheme
from app.errors import BadCallbackError, NotConfiguredError, PathError, SettingsError, UnknownTargetError
from app.gate import paths
from app.gate.shapes import BodyFormat
from app.runtime.config import HookSourceSettings, Settings

FORM_CONTENT_TYPE = b"application/x-www-form-urlencoded"
# Correlation keys and event IDs become workflow IDs and dedupe keys: bounded like the callback ID.
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class HookSource:
    """One configured source, parsed: its scheme, secret bytes and the split paths."""

    name: str
    scheme: SignatureScheme
    keys: tuple[bytes, ...] = field(repr=False)
    tolerance_seconds: int
    key_path: tuple[str, ...]
    event_id_path: tuple[str, ...] | None
    # Scheme `none`, opted into by the operator: logged at start and listed by /readyz.
    unsigned: bool = False

    @classmethod
    def parse(cls, configured_source: HookSourceSettings) -> HookSource:
        """The source as the server uses it; SettingsError naming the source and what is wrong."""
        name = configured_source.name
        try:
            scheme = configured(configured_source.scheme, configured_source.options)
            keys = tuple(scheme.parse_key(text) for text in configured_source.secrets)
        except ValueError as exc:  # SettingsError is a ValueError too
            raise SettingsError(f"hook source {name!r}: {exc}") from exc
        for what, path in (
            ("key path", configured_source.key_path),
            ("event ID path", configured_source.event_id_path),
        ):
            if path is not None and not paths.is_path(path):
                raise SettingsError(f"hook source {name!r}: the {what} {path!r} is not a dotted path like data.id")
        return cls(
            name=name,
            scheme=scheme,
            keys=keys,
            tolerance_seconds=configured_source.tolerance_seconds,
            key_path=tuple(paths.split(configured_source.key_path)),
            event_id_path=(
                tuple(paths.split(configured_source.event_id_path)) if configured_source.event_id_path else None
            ),
            unsigned=configured_source.allow_unsigned,
        )


def hook_sources(settings: Settings) -> dict[str, HookSource]:
    """Every configured source, parsed (at start-up)."""
    return {name: HookSource.parse(source) for name, source in settings.hook_sources.items()}


def unsigned_sources(sources: Mapping[str, HookSource]) -> list[str]:
    """The sources that take events nobody signed (the operator opted in): shown at start and by /readyz."""
    return sorted(name for name, source in sources.items() if source.unsigned)


@dataclass(frozen=True)
class HookEvent:
    """A verified event of a source: what correlation needs."""

    source: str
    key: str
    # The dedupe key: from the event ID path, else the scheme's signed ID (Standard Webhooks), else None.
    event_id: str | None
    signed_at: int | None
    event: Mapping[str, Any] = field(repr=False)


class HookAnswer(msgspec.Struct):
    """The 202 answer to a delivered event."""

    accepted: bool
    source: str
    key: str
    event_id: str | None
    outcome: str


# Takes a verified event on to the stage waiting on its key; answers what happened.
Delivery = Callable[[HookEvent], Awaitable[HookAnswer]]


async def refuse_uncorrelated(event: HookEvent) -> HookAnswer:
    """The delivery while correlation is not built: 501, so the vendor keeps the event and retries it."""
    raise NotConfiguredError(
        f"hook source {event.source!r}: the event (key {event.key!r}, event ID {event.event_id!r}) is verified, "
        "but this server does not correlate fixed-endpoint events to stages yet; the sender should retry later",
    )


def _scalar(event: Mapping[str, Any], path: tuple[str, ...], what: str) -> str:
    try:
        value = paths.lookup(event, path, "event")
    except PathError as exc:
        raise BadCallbackError(f"the event has no {what}: {exc}", code=f"no_{what.replace(' ', '_')}") from exc
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise BadCallbackError(
            f"the event's {what} at {'.'.join(path)} is {paths.kind(value)}, not a non-empty string or integer",
            code=f"no_{what.replace(' ', '_')}",
        )
    text = str(value)
    if len(text) > MAX_KEY_CHARS:
        raise BadCallbackError(f"the event's {what} is longer than {MAX_KEY_CHARS} characters", code="invalid_body")
    return text


def _is_form(raw_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """A form-encoded event (Twilio's status callbacks); anything else is read as JSON."""
    for name, value in raw_headers:
        if name.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == FORM_CONTENT_TYPE
    return False


def _decoded(body: bytes, form: bool) -> Any:
    """The event's fields: a JSON value, or a form's fields (a repeated field as a list of its values)."""
    if form:
        return decode_body(body, BodyFormat.FORM)
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as err:
        raise BadCallbackError(f"the event is not valid JSON: {err}", code="invalid_json") from err


def verified_event(
    sources: Mapping[str, HookSource], name: str, raw_headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> HookEvent:
    """Check one request to `/hooks/{name}`; the refusal (404/401/400/403) is raised, typed by its status."""
    source = sources.get(name)
    if source is None:
        raise UnknownTargetError(f"no hook source {name[:64]!r} is configured", code="unknown_source")
    headers = signature_headers_of(raw_headers, source.scheme.headers)
    # Before parsing: a tampered body is refused as such, whatever it holds.
    signed = source.scheme.verify(headers, body, source.keys, time.time(), source.tolerance_seconds)
    event = _decoded(body, _is_form(raw_headers))
    if not isinstance(event, dict):
        raise BadCallbackError(f"the event is {paths.kind(event)}, not a JSON object", code="invalid_body")
    event_id = signed.webhook_id
    if source.event_id_path is not None:
        event_id = _scalar(event, source.event_id_path, "event id")
    return HookEvent(
        source=source.name,
        key=_scalar(event, source.key_path, "correlation key"),
        event_id=event_id,
        signed_at=signed.timestamp,
        event=event,
    )
