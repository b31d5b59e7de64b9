"""Read a pipeline file (YAML, schema version 1) into a validated `Pipeline`, or one error naming where it is wrong.

Every check happens here, before a run starts: a `PipelineError` names the file, the line (where the YAML
parser knows it), the stage and the field. See docs/pipelines.md for the schema.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from app.errors import InputError, PipelineError, ShapeError, TemplateError
from app.gate import paths
from app.gate.rules import STAGE_NAME
from app.gate.shapes import BodyFormat, CallbackShape, FetchSpec, Meaning, as_text
from app.gate.types import Mode
from app.pipeline.template import Place, Ref, check, lookup, parse, refs_in
from app.pipeline.types import (
    DEFAULT_STAGE_TIMEOUT_SECONDS,
    PIPELINE_VERSION,
    HttpRequestSpec,
    OnFailure,
    Pipeline,
    StageSpec,
    StatusSpec,
    WaitSpec,
    wait_key_ref,
)


def is_stage_name(name: str) -> bool:
    """A pipeline stage name: a gate stage name (`app.gate.rules.STAGE_NAME`) without dots, because it is also
    a segment of `${stages.NAME...}` paths, where dots separate."""
    return STAGE_NAME.fullmatch(name) is not None and "." not in name


# Pipeline names go into workflow IDs.
PIPELINE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z\-]+")
_PATH = paths.PATH
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

TOP_KEYS = ("version", "name", "description", "input", "defaults", "stages")
INPUT_KEYS = ("example", "schema")
DEFAULTS_KEYS = ("timeout", "mode", "on_failure")
STAGE_KEYS = ("name", "request", "answer_id", "timeout", "mode", "status", "on_failure", "callback", "fetch", "wait")
WAIT_KEYS = ("source", "key")
# A fixed endpoint's source name (as STAGEGATE_HOOK_SOURCES names it) and the key forms `wait.key` takes.
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

REQUEST_KEYS = ("method", "url", "headers", "body")
STATUS_KEYS = ("url", "headers", "callback_at")
FETCH_KEYS = ("url", "headers", "answer")
CALLBACK_KEYS = ("body", "outcome", "outcome_header", "values", "result", "error", "event_id", "event_id_header")
VALUES_KEYS = tuple(m.value for m in Meaning)


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; raises PipelineError (also for a file that cannot be read)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PipelineError(f"cannot read the file: {exc.strerror or exc}", file=source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PipelineError("not UTF-8 text", file=source) from None
    return parse_pipeline(text, source=source, digest=hashlib.sha256(raw).hexdigest())


def parse_pipeline(text: str, *, source: str = "<pipeline>", digest: str | None = None) -> Pipeline:
    """Validate pipeline YAML text; `source` names it in errors."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "not valid YAML"
        raise PipelineError(f"not valid YAML: {problem}", file=source, line=line) from None
    except YAMLError as exc:
        raise PipelineError(f"not valid YAML: {exc}", file=source) from None
    reader = _Reader(source)
    return reader.pipeline(doc, digest or hashlib.sha256(text.encode()).hexdigest())


def check_input(pipeline: Pipeline, value: Any) -> None:
    """Raise InputError unless `value` fits the pipeline's input schema and has every value its stages use."""
    if not isinstance(value, dict):
        raise InputError(f"the input must be a JSON object, got {type(value).__name__}")
    if pipeline.input_schema is not None:
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(pipeline.input_schema).iter_errors(value)
        )
        if error is not None:
            at = "/".join(str(p) for p in error.absolute_path) or "(top)"
            raise InputError(f"the input does not fit the pipeline's schema at {at}: {error.message}")
    for spec, ref in _input_refs(pipeline):
        try:
            lookup(value, ref.path, "input")
        except TemplateError as exc:
            raise InputError(f"stage {spec.name!r} uses {ref.text}, but {exc}") from None


def definition_problems(pipeline: Pipeline) -> list[str]:
    """What the workflow relies on, checked again on the definition it was given (empty when all is well).

    The CLI validates files before starting; this guards runs started some other way (e.g. `temporal workflow
    start` with hand-written JSON), so a bad definition fails the run with a clear error instead of its task.
    """
    problems: list[str] = []
    if not pipeline.stages:
        problems.append("the pipeline has no stages")
    seen: list[str] = []
    for spec in pipeline.stages:
        if not is_stage_name(spec.name):
            problems.append(f"{spec.name!r} is not a stage name")
        if spec.name in seen:
            problems.append(f"duplicate stage name {spec.name!r}")
        if spec.request.method not in METHODS:
            problems.append(f"stage {spec.name!r}: unknown method {spec.request.method!r}")
        if not spec.timeout_seconds > 0:
            problems.append(f"stage {spec.name!r}: timeout must be positive")
        problems += [
            f"stage {spec.name!r} uses {u!r}, which does not come before it" for u in spec.uses_stages if u not in seen
        ]
        seen.append(spec.name)
    return problems


def _input_refs(pipeline: Pipeline) -> Iterable[tuple[StageSpec, Ref]]:
    for spec in pipeline.stages:
        templates: list[Any] = [spec.request.url, spec.request.headers, spec.request.body]
        if spec.status is not None:
            templates += [spec.status.url, spec.status.headers]
        if spec.fetch is not None:
            templates += [spec.fetch.url, spec.fetch.headers]
        for template in templates:
            for ref in refs_in(template):
                if ref.root == "input":
                    yield spec, ref


@dataclass
class _Stage:
    """The stage being read, for error messages."""

    label: str
    name: str | None = None


class _Reader:
    """Walks the parsed YAML; each check raises a PipelineError that says where."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(
        self, message: str, *, node: Any = None, key: Any = None, stage: _Stage | None = None, field: str | None = None
    ) -> PipelineError:
        return PipelineError(
            message, file=self.source, line=_line(node, key), stage=stage.label if stage else None, field=field
        )

    # --- top level ----------------------------------------------------------------------------------

    def pipeline(self, doc: Any, digest: str) -> Pipeline:
        if not isinstance(doc, CommentedMap):
            raise self.fail("the file must hold a mapping (version, name, stages, ...)", node=doc)
        self.known_keys(doc, TOP_KEYS, "", None)
        version = self.required(doc, "version", None, "")
        if isinstance(version, bool) or version != PIPELINE_VERSION:
            raise self.fail(
                f"unsupported version {version!r}: this stagegate reads version {PIPELINE_VERSION}",
                node=doc,
                key="version",
                field="version",
            )
        name = self.text(doc, "name", None, "", required=True)
        if not PIPELINE_NAME.fullmatch(name):
            raise self.fail(
                f"{name!r} is not a pipeline name: letters, digits, '_', '.', '-' (at most 64; used in workflow IDs)",
                node=doc,
                key="name",
                field="name",
            )
        description = self.text(doc, "description", None, "") or ""
        example, schema = self.input_section(doc)
        defaults = self.defaults(doc)
        stages_node = self.required(doc, "stages", None, "")
        if not isinstance(stages_node, CommentedSeq) or not stages_node:
            raise self.fail("must be a non-empty list of stages", node=doc, key="stages", field="stages")
        names = self.stage_names(stages_node)
        stages = [self.stage(stages_node, index, names, defaults) for index in range(len(stages_node))]
        pipeline = Pipeline(
            name=str(name),
            stages=stages,
            version=PIPELINE_VERSION,
            description=str(description),
            input_example=example,
            input_schema=schema,
            source=self.source,
            digest=digest,
        )
        if example is not None:
            try:
                check_input(pipeline, example)
            except InputError as exc:
                raise self.fail(
                    f"the example does not fit: {exc}", node=doc["input"], key="example", field="input.example"
                ) from None
        return pipeline

    def input_section(self, doc: CommentedMap) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        node = doc.get("input")
        if node is None:
            return None, None
        if not isinstance(node, CommentedMap):
            raise self.fail("must be a mapping with 'example' and/or 'schema'", node=doc, key="input", field="input")
        self.known_keys(node, INPUT_KEYS, "input.", None)
        example = self.json_value(node.get("example"), node, "example", None, "input.example")
        if example is not None and not isinstance(example, dict):
            raise self.fail("must be a JSON object", node=node, key="example", field="input.example")
        schema = self.json_value(node.get("schema"), node, "schema", None, "input.schema")
        if schema is not None:
            if not isinstance(schema, dict):
                raise self.fail("must be a JSON Schema object", node=node, key="schema", field="input.schema")
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise self.fail(
                    f"not a valid JSON Schema: {exc.message}", node=node, key="schema", field="input.schema"
                ) from None
        return example, schema

    def defaults(self, doc: CommentedMap) -> dict[str, Any]:
        node = doc.get("defaults")
        if node is None:
            return {}
        if not isinstance(node, CommentedMap):
            raise self.fail("must be a mapping", node=doc, key="defaults", field="defaults")
        self.known_keys(node, DEFAULTS_KEYS, "defaults.", None)
        out: dict[str, Any] = {}
        if "timeout" in node:
            out["timeout"] = self.timeout(node, None, "defaults.timeout")
        if "mode" in node:
            out["mode"] = self.mode(node, None, "defaults.mode")
        if "on_failure" in node:
            out["on_failure"] = self.on_failure(node, None, "defaults.on_failure")
        return out

    def stage_names(self, stages: CommentedSeq) -> list[str]:
        names: list[str] = []
        for index, node in enumerate(stages):
            stage = _Stage(f"#{index + 1}")
            if not isinstance(node, CommentedMap):
                raise self.fail("must be a mapping (name, request, ...)", node=stages, key=index, stage=stage)
            name = self.text(node, "name", stage, "", required=True)
            stage = _Stage(f"{name!r} (#{index + 1})")
            if not is_stage_name(name):
                raise self.fail(
                    f"{name!r} is not a stage name: a letter or '_' first, then letters, digits, '_' or '-' "
                    "(at most 64)",
                    node=node,
                    key="name",
                    stage=stage,
                    field="name",
                )
            if name in names:
                first = _line(stages[names.index(name)], "name")
                raise self.fail(
                    f"duplicate stage name {name!r} (first used on line {first})",
                    node=node,
                    key="name",
                    stage=stage,
                    field="name",
                )
            names.append(name)
        return names

    # --- one stage ----------------------------------------------------------------------------------

    def stage(self, stages: CommentedSeq, index: int, names: Sequence[str], defaults: Mapping[str, Any]) -> StageSpec:
        node = stages[index]
        name = names[index]
        stage = _Stage(f"{name!r} (#{index + 1})", name)
        self.known_keys(node, STAGE_KEYS, "", stage)
        earlier, later = names[:index], names[index + 1 :]
        request = self.request(node, stage, earlier, later)
        status = self.status(node, stage, earlier, later)
        answer_id = self.path(node, "answer_id", stage, "answer_id")
        timeout = self.timeout(node, stage, "timeout") if "timeout" in node else defaults.get("timeout")
        mode = self.mode(node, stage, "mode") if "mode" in node else defaults.get("mode")
        on_failure = self.on_failure(node, stage, "on_failure") if "on_failure" in node else defaults.get("on_failure")
        fetch = self.fetch(node, stage, earlier, later)
        templates: list[Any] = [request.url, request.headers, request.body]
        if status is not None:
            templates += [status.url, status.headers]
        if fetch is not None:
            templates += [fetch.url, fetch.headers]
        uses = sorted({ref.stage_name for t in templates for ref in refs_in(t) if ref.stage_name}, key=names.index)
        return StageSpec(
            name=name,
            request=request,
            timeout_seconds=timeout or DEFAULT_STAGE_TIMEOUT_SECONDS,
            mode=mode,
            answer_id=answer_id,
            status=status,
            on_failure=on_failure or OnFailure.FAIL,
            uses_stages=uses,
            callback=self.callback(node, stage),
            fetch=fetch,
            wait=self.wait(node, stage),
        )

    def wait(self, node: CommentedMap, stage: _Stage) -> WaitSpec | None:
        """The stage's `wait: {source, key}` (a fixed endpoint): a source name and a key it can know."""
        wt = node.get("wait")
        if wt is None:
            return None
        if not isinstance(wt, CommentedMap):
            raise self.fail("must be a mapping (source, key)", node=node, key="wait", stage=stage, field="wait")
        self.known_keys(wt, WAIT_KEYS, "wait.", stage)
        source = self.text(wt, "source", stage, "wait.", required=True)
        if not _SOURCE_NAME.fullmatch(source):
            raise self.fail(
                f"{source!r} is not a source name (1-64 of a-z, 0-9, '_', '-', as STAGEGATE_HOOK_SOURCES names it)",
                node=wt,
                key="source",
                stage=stage,
                field="wait.source",
            )
        key = self.text(wt, "key", stage, "wait.", required=True)
        if "${" in key and wait_key_ref(key) is None:
            raise self.fail(
                f"{key!r}: a key is '${{answer}}', '${{answer.PATH}}' (the request's answer), '${{input.PATH}}', "
                "'${idempotency_key}' (the stage's own ID) or plain text",
                node=wt,
                key="key",
                stage=stage,
                field="wait.key",
            )
        return WaitSpec(source=source, key=key)

    def request(
        self, node: CommentedMap, stage: _Stage, earlier: Sequence[str], later: Sequence[str]
    ) -> HttpRequestSpec:
        req = self.required(node, "request", stage, "")
        if not isinstance(req, CommentedMap):
            raise self.fail(
                "must be a mapping (method, url, headers, body)", node=node, key="request", stage=stage, field="request"
            )
        self.known_keys(req, REQUEST_KEYS, "request.", stage)
        method_raw = self.text(req, "method", stage, "request.") or "POST"
        method = method_raw.upper()
        if method not in METHODS:
            raise self.fail(
                f"unknown method {method_raw!r}; use one of {', '.join(METHODS)}",
                node=req,
                key="method",
                stage=stage,
                field="request.method",
            )
        url = self.url(req, stage, "request.", Place.URL, earlier, later)
        headers = self.headers(req, stage, "request.", Place.HEADER, earlier, later)
        body = self.json_value(req.get("body"), req, "body", stage, "request.body")
        if body is not None and method == "GET":
            raise self.fail("a GET request has no body", node=req, key="body", stage=stage, field="request.body")
        self.templates(body, req, "body", stage, "request.body", Place.BODY, earlier, later)
        return HttpRequestSpec(method=method, url=url, headers=headers, body=body)

    def status(
        self, node: CommentedMap, stage: _Stage, earlier: Sequence[str], later: Sequence[str]
    ) -> StatusSpec | None:
        st = node.get("status")
        if st is None:
            return None
        if not isinstance(st, CommentedMap):
            raise self.fail(
                "must be a mapping (url, headers, callback_at)", node=node, key="status", stage=stage, field="status"
            )
        self.known_keys(st, STATUS_KEYS, "status.", stage)
        url = self.url(st, stage, "status.", Place.STATUS_URL, earlier, later)
        headers = self.headers(st, stage, "status.", Place.STATUS_HEADER, earlier, later)
        callback_at = self.path(st, "callback_at", stage, "status.callback_at") or ""
        return StatusSpec(url=url, headers=headers, callback_at=callback_at)

    def fetch(
        self, node: CommentedMap, stage: _Stage, earlier: Sequence[str], later: Sequence[str]
    ) -> FetchSpec | None:
        """The stage's `fetch:` (notify, then fetch): a GET with templates, and how its answer reads."""
        ft = node.get("fetch")
        if ft is None:
            return None
        if not isinstance(ft, CommentedMap):
            raise self.fail(
                "must be a mapping (url, headers, answer)", node=node, key="fetch", stage=stage, field="fetch"
            )
        self.known_keys(ft, FETCH_KEYS, "fetch.", stage)
        url = self.url(ft, stage, "fetch.", Place.FETCH_URL, earlier, later)
        headers = self.headers(ft, stage, "fetch.", Place.FETCH_HEADER, earlier, later)
        answer = self.callback(ft, stage, key="answer", field="fetch.answer")
        try:
            return FetchSpec(url=url, headers=headers, answer=answer)
        except ShapeError as exc:
            raise self.fail(
                str(exc).removeprefix("fetch: "), node=node, key="fetch", stage=stage, field="fetch"
            ) from None

    def callback(
        self, node: CommentedMap, stage: _Stage, *, key: str = "callback", field: str = "callback"
    ) -> CallbackShape | None:
        """The stage's `callback:` shape (or a fetch's `answer:`); one that cannot work is refused here."""
        cb = node.get(key)
        if cb is None:
            return None
        if not isinstance(cb, CommentedMap):
            raise self.fail(
                "must be a mapping (body, outcome, values, result, error, event_id)",
                node=node,
                key=key,
                stage=stage,
                field=field,
            )
        self.known_keys(cb, CALLBACK_KEYS, f"{field}.", stage)
        args: dict[str, Any] = {}
        for name in ("outcome", "outcome_header", "result", "error", "event_id", "event_id_header"):
            if name in cb:
                args[name] = self.text(cb, name, stage, f"{field}.", required=True)
        if "body" in cb:
            try:
                args["body"] = BodyFormat(str(cb["body"]).strip().lower())
            except ValueError:
                choices = ", ".join(b.value for b in BodyFormat)
                raise self.fail(
                    f"unknown body {cb['body']!r}; use one of {choices}",
                    node=cb,
                    key="body",
                    stage=stage,
                    field=f"{field}.body",
                ) from None
        args.update(self.callback_values(cb, stage, field))
        try:
            return CallbackShape(**args)
        except ShapeError as exc:
            message = str(exc).removeprefix("callback shape: ")
            raise self.fail(message, node=node, key=key, stage=stage, field=field) from None

    def callback_values(self, cb: CommentedMap, stage: _Stage, field: str) -> dict[str, list[str]]:
        values = self.required(cb, "values", stage, f"{field}.")
        if not isinstance(values, CommentedMap):
            raise self.fail(
                f"must map outcomes ({', '.join(VALUES_KEYS)}) to the service's values",
                node=cb,
                key="values",
                stage=stage,
                field=f"{field}.values",
            )
        self.known_keys(values, VALUES_KEYS, f"{field}.values.", stage)
        out: dict[str, list[str]] = {}
        for key, raw in values.items():
            items = raw if isinstance(raw, CommentedSeq) else [raw]
            texts: list[str] = []
            for item in items:
                if item is None or isinstance(item, CommentedMap | CommentedSeq):
                    raise self.fail(
                        "must be a value or a list of values (text, numbers, true/false)",
                        node=values,
                        key=key,
                        stage=stage,
                        field=f"{field}.values.{key}",
                    )
                # Compared as text, the way the callback server reads them: JSON `true` is "true".
                texts.append(as_text(self.json_value(item, values, key, stage, f"{field}.values.{key}")))
            out[str(key)] = texts
        return out

    def url(
        self, node: CommentedMap, stage: _Stage, prefix: str, place: Place, earlier: Sequence[str], later: Sequence[str]
    ) -> str:
        field = f"{prefix}url"
        url = self.text(node, "url", stage, prefix, required=True)
        self.templates(url, node, "url", stage, field, place, earlier, later)
        example = "".join(_example_text(part) for part in parse(url))
        parts = urlsplit(example)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail(
                f"{url!r} is not an http(s) URL (start it with http://, https:// or ${{env.NAME}})",
                node=node,
                key="url",
                stage=stage,
                field=field,
            )
        return url

    def headers(
        self, node: CommentedMap, stage: _Stage, prefix: str, place: Place, earlier: Sequence[str], later: Sequence[str]
    ) -> dict[str, str]:
        field = f"{prefix}headers"
        headers = node.get("headers")
        if headers is None:
            return {}
        if not isinstance(headers, CommentedMap):
            raise self.fail(
                "must be a mapping of header name to text", node=node, key="headers", stage=stage, field=field
            )
        out: dict[str, str] = {}
        for key, value in headers.items():
            if not isinstance(key, str) or not _HEADER_NAME.fullmatch(key):
                raise self.fail(f"{key!r} is not a header name", node=headers, key=key, stage=stage, field=field)
            if not isinstance(value, str):
                raise self.fail(
                    f"the value of {key!r} must be text (quote it)",
                    node=headers,
                    key=key,
                    stage=stage,
                    field=f"{field}.{key}",
                )
            self.templates(str(value), headers, key, stage, f"{field}.{key}", place, earlier, later)
            out[key] = str(value)
        return out

    def templates(
        self,
        value: Any,
        node: CommentedMap,
        key: str,
        stage: _Stage,
        field: str,
        place: Place,
        earlier: Sequence[str],
        later: Sequence[str],
    ) -> None:
        try:
            for ref in refs_in(value):
                check(ref, place, earlier=earlier, later=later, current=stage.name or "")
        except TemplateError as exc:
            raise self.fail(str(exc), node=node, key=key, stage=stage, field=field) from None

    # --- scalar fields ------------------------------------------------------------------------------

    def timeout(self, node: CommentedMap, stage: _Stage | None, field: str) -> float:
        raw = node.get("timeout")
        seconds: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            seconds = float(raw)
        elif isinstance(raw, str) and (match := _DURATION.fullmatch(raw.strip())):
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if seconds is None or not math.isfinite(seconds):
            raise self.fail(
                f"{raw!r} is not a duration: seconds as a number, or text like '90s', '5m', '2h', '1d'",
                node=node,
                key="timeout",
                stage=stage,
                field=field,
            )
        if seconds <= 0:
            raise self.fail(f"must be positive, got {raw!r}", node=node, key="timeout", stage=stage, field=field)
        return seconds

    def mode(self, node: CommentedMap, stage: _Stage | None, field: str) -> Mode:
        raw = node.get("mode")
        try:
            return Mode(str(raw).strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in Mode)
            raise self.fail(
                f"unknown mode {raw!r}; use one of {choices}", node=node, key="mode", stage=stage, field=field
            ) from None

    def on_failure(self, node: CommentedMap, stage: _Stage | None, field: str) -> OnFailure:
        raw = node.get("on_failure")
        try:
            return OnFailure(str(raw).strip().lower())
        except ValueError:
            choices = ", ".join(o.value for o in OnFailure)
            raise self.fail(
                f"unknown value {raw!r}; use one of {choices}", node=node, key="on_failure", stage=stage, field=field
            ) from None

    def path(self, node: CommentedMap, key: str, stage: _Stage, field: str) -> str | None:
        raw = node.get(key)
        if raw is None:
            return None
        if not isinstance(raw, str) or not _PATH.fullmatch(raw):
            raise self.fail(
                f"{raw!r} is not a dotted path into JSON (e.g. 'job_id', 'data.id', 'items.0.id')",
                node=node,
                key=key,
                stage=stage,
                field=field,
            )
        return raw

    def text(self, node: CommentedMap, key: str, stage: _Stage | None, prefix: str, *, required: bool = False) -> str:
        raw = self.required(node, key, stage, prefix) if required else node.get(key)
        if raw is None:
            return ""
        if not isinstance(raw, str) or (required and not raw.strip()):
            raise self.fail("must be non-empty text", node=node, key=key, stage=stage, field=f"{prefix}{key}")
        return str(raw)

    def required(self, node: CommentedMap, key: str, stage: _Stage | None, prefix: str) -> Any:
        if key not in node or node[key] is None:
            raise self.fail("missing (required)", node=node, stage=stage, field=f"{prefix}{key}")
        return node[key]

    def known_keys(self, node: CommentedMap, allowed: Sequence[str], prefix: str, stage: _Stage | None) -> None:
        for key in node:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                also = f" (did you mean {hint[0]!r}?)" if hint else f"; allowed: {', '.join(allowed)}"
                raise self.fail(f"unknown key{also}", node=node, key=key, stage=stage, field=f"{prefix}{key}")

    def json_value(self, value: Any, node: CommentedMap, key: str, stage: _Stage | None, field: str) -> Any:
        try:
            return _plain(value)
        except _NotJsonError as exc:
            raise self.fail(f"not a JSON value: {exc}", node=node, key=key, stage=stage, field=field) from None


class _NotJsonError(ValueError):
    pass


def _plain(value: Any) -> Any:
    """YAML round-trip nodes as plain JSON values (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJsonError(f"{value!r} is not a finite number")
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJsonError(f"object keys must be text, got {key!r}")
            out[str(key)] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        raise _NotJsonError(f"{value!r} is a YAML date: quote it")
    raise _NotJsonError(f"{type(value).__name__} is not JSON")


def _example_text(part: str | Ref) -> str:
    """A stand-in for a placeholder when checking a URL's shape: env defaults as written, anything else 'x'."""
    if isinstance(part, str):
        return part
    if part.root == "env":
        return part.default if part.default is not None else "http://env.invalid"
    return "x"


def _line(node: Any, key: Any = None) -> int | None:
    """1-based line of `node[key]` (or of `node`) as the YAML parser recorded it."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            return int(node.lc.key(key)[0]) + 1
        if key is not None and isinstance(node, CommentedSeq):
            return int(node.lc.item(key)[0]) + 1
        if isinstance(node, CommentedMap | CommentedSeq):
            return int(node.lc.line) + 1
    except (KeyError, IndexError, TypeError):
        return None
    return None
