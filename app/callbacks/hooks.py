"""Fixed endpoints `POST /hooks/{source}`: one URL per vendor account, the vendor's own signature, its own IDs.

A source (configured in `app.runtime.config`, `STAGEGATE_HOOK_SOURCES`) names a signature scheme from the
registry, its keys, and two dotted paths (`app.gate.paths`) into the event: the correlation key (which waiting
stage it is for, e.g. Stripe's `data.object.id`) and the event ID (the dedupe key, e.g. `id`). Everything is
parsed once at start-up, so a bad scheme, key, option or path stops the server with a SettingsError.

A request is: source known (else 404) -> signature verified on the exact bytes (401/400/403 by type) -> JSON
object (or form fields, for `application/x-www-form-urlencoded`) with a correlation key
(else 400) -> handed to the delivery. The server's delivery (`MailboxDelivery`)
hands the event to the key's mailbox workflow (`app/gate/mailbox.py`) by update-with-start and answers 2xx with
what the mailbox made of it: kept for a stage to come, delivering, delivered (update mode: with the stage's
verdict when it comes within the answer budget), or a duplicate. No worker answered in time: the event goes
by signal-with-start instead (`taken`). Temporal unreachable: 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from app.callbacks.body_check import signature_headers_of
from app.callbacks.forwarding import UNREACHABLE, Temporal, temporal_unavailable
from app.callbacks.shapes import decode_body
from app.callbacks.signatures.registry import configured
from app.callbacks.signatures.types import SignatureScheme
from app.errors import (
    BadCallbackError,
    PathError,
    SettingsError,
    TemporalUnavailableError,
    UnknownTargetError,
)
from app.gate import mailbox_client, paths
from app.gate.hook_types import MAX_KEY_CHARS, HookEventIn, MailboxAnswer
from app.gate.shapes import BodyFormat
from app.runtime.config import HookSourceSettings, Settings

log = structlog.get_logger(__name__)
FORM_CONTENT_TYPE = b"application/x-www-form-urlencoded"
_BODY_ID = "sha256:"
# The share of the Temporal budget the update may take; the rest is for the signal-with-start fallback.
UPDATE_SHARE = 0.6
# The longest an endpoint waits for an update-mode stage's verdict (at most 30% of the Temporal budget, so the
# update itself answers within its share).
MAX_ANSWER_WAIT_SECONDS = 1.5


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
    ttl_seconds: float = 24 * 3600.0

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
            ttl_seconds=configured_source.ttl_seconds,
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


class HookAnswer(msgspec.Struct, omit_defaults=True):
    """The 2xx answer to a verified event: what became of it (`kept`, `delivering`, `delivered`, `duplicate`, ...)."""

    accepted: bool
    source: str
    key: str
    event_id: str | None
    outcome: str
    # Who waits on the key, when someone does: the stage's mode and stage, and (update mode) its verdict.
    mode: str | None = None
    stage: int | str | None = None
    verdict: str | None = None
    detail: str | None = None


# Takes a verified event on to the stage waiting on its key; answers what happened.
Delivery = Callable[[HookEvent], Awaitable[HookAnswer]]


class MailboxDelivery:
    """The server's delivery: the event to its key's mailbox workflow (update-with-start), its answer back."""

    def __init__(self, temporal: Callable[[], Temporal], sources: Mapping[str, HookSource], task_queue: str) -> None:
        """`temporal` gives the server's Temporal wrapper at request time (the lifespan may make it lazily)."""
        self._temporal = temporal
        self._sources = sources
        self._task_queue = task_queue

    async def __call__(self, event: HookEvent) -> HookAnswer:
        temporal = self._temporal()
        source = self._sources[event.source]
        incoming = HookEventIn(
            source=event.source,
            key=event.key,
            event_id=event.event_id or _digest(event.event),
            event=dict(event.event),
            received_at=datetime.now(UTC).isoformat(),
            ttl_seconds=source.ttl_seconds,
            answer_within_seconds=min(MAX_ANSWER_WAIT_SECONDS, temporal.timeout_seconds * 0.3),
        )
        answer = await _to_mailbox(temporal, incoming, self._task_queue)
        return HookAnswer(
            True,
            event.source,
            event.key,
            incoming.event_id,
            answer.outcome,
            mode=answer.mode.value if answer.mode is not None else None,
            stage=answer.stage,
            verdict=answer.verdict,
            detail=answer.detail or None,
        )


async def _to_mailbox(temporal: Temporal, event: HookEventIn, task_queue: str) -> MailboxAnswer:
    """Update-with-start within the first part of the budget (its answer says what became of the event); when no
    worker took it in time, signal-with-start (Temporal alone takes it: durable, answered `taken`, and a repeat of
    an update that did land is a duplicate to the mailbox). 503 only when Temporal itself cannot take it."""
    update_timeout = timedelta(seconds=temporal.timeout_seconds * UPDATE_SHARE)
    try:
        async with asyncio.timeout(temporal.timeout_seconds):
            try:
                return await mailbox_client.deliver_event(
                    temporal.client, event, task_queue=task_queue, rpc_timeout=update_timeout
                )
            except (WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateFailedError) as err:
                log.info("the mailbox did not answer in time; the event goes by signal", reason=type(err).__name__)
            await mailbox_client.signal_event(
                temporal.client, event, task_queue=task_queue, rpc_timeout=temporal.rpc_timeout
            )
            return MailboxAnswer("taken", detail="recorded; the key's mailbox delivers it as soon as a worker runs it")
    except TimeoutError as err:
        raise temporal_unavailable(f"no answer within {temporal.timeout_seconds:g}s") from err
    except RPCError as err:
        if err.status in UNREACHABLE or err.status is RPCStatusCode.RESOURCE_EXHAUSTED:
            raise temporal_unavailable(err.message) from err
        log.warning("Temporal refused the mailbox event", status=err.status.name, error=err.message[:300])
        raise TemporalUnavailableError(f"Temporal answered {err.status.name}; retry", code="temporal_error") from err
    except RuntimeError as err:
        if type(err) is not RuntimeError:  # the lazy client's failed first connection; subclasses are bugs
            raise
        raise temporal_unavailable(type(err).__name__) from err


def _digest(event: Mapping[str, Any]) -> str:
    """No event ID configured: the event's own content is its ID (the same event twice never advances twice)."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _BODY_ID + hashlib.sha256(canonical.encode()).hexdigest()


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
