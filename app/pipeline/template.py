"""The pipeline substitution syntax: `${...}` placeholders, checked when a file is read, filled in inside activities.

    ${callback_url}                    the stage's signed callback URL (the gate makes it, per mode and attempt)
    ${idempotency_key}                 stable per (workflow, first run, stage): the same across retries
    ${workflow_id}  ${stage}           the run's workflow ID, the stage's name
    ${input}  ${input.a.b}  ${input.items.0}          the run's input, or a value in it
    ${stages.NAME.result}  ${stages.NAME.result.a.b}  an EARLIER stage's callback result (or a value in it)
    ${stages.NAME.answer_id}  .outcome  .error        its answer id, outcome, error
    ${env.NAME}  ${env.NAME:-default}                 a variable of the WORKER's environment (url and headers only)
    ${answer_id}  ${callback}  ${callback.a.b}        fetch only: the request's answer id, the callback's result
    $${                                               a literal `${`

Lookups only: no expressions, no code. A JSON body string that is exactly one placeholder takes the value's own
JSON type (a number stays a number, an object an object); inside longer text, strings go in as they are and
other values as JSON. In a URL every value except `${env...}` is percent-encoded. Everything is filled in ONE
pass inside the activity, so a value that itself contains `${...}` is never expanded (an input cannot reach
the worker's environment), and `${env...}` values never enter workflow history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from app.errors import PathError, TemplateError
from app.gate import paths
from app.pipeline.types import StageOutput

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = paths.SEGMENT
_STAGE_FIELDS = ("result", "answer_id", "outcome", "error")
_SCALARS = ("callback_url", "idempotency_key", "workflow_id", "stage")
# A fetch after the callback (`fetch:`) may also use what the stage itself got: its answer id and callback.
_FETCH_ROOTS = ("answer_id", "callback")
KNOWN = (
    "${callback_url}, ${idempotency_key}, ${workflow_id}, ${stage}, ${input[.path]}, "
    "${stages.NAME.result[.path]|answer_id|outcome|error}, ${env.NAME[:-default]}, "
    "and in fetch: ${answer_id[.path]}, ${callback[.path]}"
)


@dataclass(frozen=True)
class Ref:
    """One placeholder. `path`: input segments; for stages (name, field, *segments); for env (NAME,)."""

    root: str
    path: tuple[str, ...] = ()
    default: str | None = None
    text: str = ""

    @property
    def stage_name(self) -> str | None:
        """The earlier stage a `${stages...}` placeholder refers to."""
        return self.path[0] if self.root == "stages" else None


Part = str | Ref


class Place(Enum):
    """Where a template sits in a stage: decides which placeholders it may hold."""

    URL = "url"
    HEADER = "header"
    BODY = "body"
    STATUS_URL = "status url"
    STATUS_HEADER = "status header"
    FETCH_URL = "fetch url"
    FETCH_HEADER = "fetch header"

    @property
    def is_url(self) -> bool:
        """Percent-encode values placed here."""
        return self in (Place.URL, Place.STATUS_URL, Place.FETCH_URL)

    @property
    def allows_env(self) -> bool:
        """Worker environment variables: URLs and headers only (they are for endpoints and credentials)."""
        return self is not Place.BODY

    @property
    def allows_callback_url(self) -> bool:
        """The reconcile request and the fetch run outside the stage's request: they have no callback URL."""
        return self not in (Place.STATUS_URL, Place.STATUS_HEADER, Place.FETCH_URL, Place.FETCH_HEADER)

    @property
    def is_fetch(self) -> bool:
        """The fetch after the callback: it may use the stage's own answer id and callback."""
        return self in (Place.FETCH_URL, Place.FETCH_HEADER)

    @property
    def is_header(self) -> bool:
        """Values placed here must not hold line breaks."""
        return self in (Place.HEADER, Place.STATUS_HEADER, Place.FETCH_HEADER)


# --- reading ------------------------------------------------------------------------------------------


def parse(text: str) -> list[Part]:
    """Split a template into literal text and placeholders; raise TemplateError for a placeholder it cannot read."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise TemplateError(f"unterminated placeholder {text[i : i + 40]!r}: a '}}' is missing")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(parse_ref(text[i + 2 : end]))
            i = end + 1
            continue
        literal.append(text[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def parse_ref(inner: str) -> Ref:
    """What is between `${` and `}`."""
    body = inner.strip()
    text = "${" + body + "}"
    if body.startswith("env."):
        name, sep, default = body[4:].partition(":-")
        if not ENV_NAME.fullmatch(name):
            raise TemplateError(f"{text}: {name!r} is not an environment variable name (letters, digits, '_')")
        return Ref("env", (name,), default if sep else None, text)
    if ":-" in body:
        raise TemplateError(f"{text}: a default (':-') is allowed only for ${{env.NAME:-default}}")
    head, *rest = body.split(".")
    for segment in rest:
        if not _SEGMENT.fullmatch(segment):
            raise TemplateError(f"{text}: {segment!r} is not a valid path segment (letters, digits, '_', '-')")
    if head in _SCALARS:
        if rest:
            raise TemplateError(f"{text}: ${{{head}}} has no fields")
        return Ref(head, (), None, text)
    if head == "input" or head in _FETCH_ROOTS:
        return Ref(head, tuple(rest), None, text)
    if head == "stages":
        if len(rest) < 2:
            raise TemplateError(f"{text}: name a stage and a field: ${{stages.NAME.{'|'.join(_STAGE_FIELDS)}}}")
        if rest[1] not in _STAGE_FIELDS:
            raise TemplateError(f"{text}: unknown stage field {rest[1]!r}; use one of {', '.join(_STAGE_FIELDS)}")
        if rest[1] != "result" and len(rest) > 2:
            raise TemplateError(f"{text}: only 'result' has fields")
        return Ref("stages", tuple(rest), None, text)
    raise TemplateError(f"unknown substitution {text}; known: {KNOWN}")


def refs_in(value: Any) -> Iterator[Ref]:
    """Every placeholder in a template value (a string, or a JSON value with string leaves)."""
    if isinstance(value, str):
        for part in parse(value):
            if isinstance(part, Ref):
                yield part
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def check(ref: Ref, place: Place, *, earlier: Sequence[str], later: Sequence[str], current: str) -> None:
    """Raise TemplateError when `ref` may not be used at `place` of stage `current`."""
    if ref.root == "env" and not place.allows_env:
        raise TemplateError(
            f"{ref.text}: environment variables are allowed only in url and headers, not the {place.value}"
        )
    if ref.root == "callback_url" and not place.allows_callback_url:
        raise TemplateError(f"{ref.text}: the {place.value} is read outside the stage and has no callback URL")
    if ref.root in _FETCH_ROOTS and not place.is_fetch:
        raise TemplateError(f"{ref.text}: only a fetch (after the callback) has the stage's answer id and callback")
    name = ref.stage_name
    if name is None or name in earlier:
        return
    if name == current:
        raise TemplateError(f"{ref.text}: a stage cannot use its own output")
    if name in later:
        raise TemplateError(f"{ref.text}: stage {name!r} comes later; only earlier stages can be used")
    raise TemplateError(f"{ref.text}: there is no stage {name!r}")


# --- filling in ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What placeholders are filled in from, inside an activity."""

    input: Mapping[str, Any]
    stages: Mapping[str, StageOutput]
    env: Mapping[str, str]
    idempotency_key: str
    workflow_id: str
    stage: str
    callback_url: str | None = None
    # A fetch only: what the stage's request answered, and the callback's result.
    answer_id: Any = None
    callback: Mapping[str, Any] | None = None


def lookup(value: Any, path: Sequence[str], what: str) -> Any:
    """Follow dotted `path` segments through objects (keys) and lists (indexes): the product's one path syntax."""
    try:
        return paths.lookup(value, path, what)
    except PathError as exc:
        raise TemplateError(str(exc)) from None


def resolve(ref: Ref, ctx: Context) -> Any:
    """The value of one placeholder; TemplateError says what is missing (never the value of a secret)."""
    if ref.root == "env":
        name = ref.path[0]
        found = ctx.env.get(name)
        if found is not None:
            return found
        if ref.default is not None:
            return ref.default
        raise TemplateError(
            f"{ref.text}: environment variable {name} is not set on the worker "
            "(or not exposed to pipelines: see STAGEGATE_PIPELINE_ENV)"
        )
    if ref.root == "callback_url":
        if ctx.callback_url is None:
            raise TemplateError(f"{ref.text}: no callback URL here")
        return ctx.callback_url
    if ref.root in ("idempotency_key", "workflow_id", "stage"):
        return getattr(ctx, ref.root)
    if ref.root == "input":
        return lookup(ctx.input, ref.path, "input")
    if ref.root in _FETCH_ROOTS:
        value = ctx.answer_id if ref.root == "answer_id" else ctx.callback
        if value is None:
            raise TemplateError(
                f"{ref.text}: the stage has no {ref.root.replace('_', ' ')} (token mode has no answer id)"
            )
        return lookup(value, ref.path, ref.root)
    name, field_name, *rest = ref.path
    output = ctx.stages.get(name)
    if output is None:
        raise TemplateError(f"{ref.text}: stage {name!r} has no output here")
    value = getattr(output, field_name)
    if value is None:
        raise TemplateError(f"{ref.text}: stage {name!r} ended {output.outcome} without {field_name.replace('_', ' ')}")
    return lookup(value, rest, f"stages.{name}.{field_name}") if rest else value


def render_text(template: str, ctx: Context, place: Place) -> str:
    """A string template filled in: URLs percent-encode every value but `${env...}`; headers refuse line breaks."""
    out: list[str] = []
    for part in parse(template):
        if isinstance(part, str):
            out.append(part)
            continue
        text = _as_text(resolve(part, ctx))
        if place.is_url and part.root != "env":
            text = quote(text, safe="")
        out.append(text)
    rendered = "".join(out)
    if place.is_header and ("\r" in rendered or "\n" in rendered):
        raise TemplateError(f"header value {template!r} would contain a line break")
    return rendered


def render_json(value: Any, ctx: Context) -> Any:
    """A JSON body template filled in; a string that is exactly one placeholder takes the value's own type."""
    if isinstance(value, str):
        parts = parse(value)
        if len(parts) == 1 and isinstance(parts[0], Ref):
            return resolve(parts[0], ctx)
        return render_text(value, ctx, Place.BODY)
    if isinstance(value, Mapping):
        return {key: render_json(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, ctx) for item in value]
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
