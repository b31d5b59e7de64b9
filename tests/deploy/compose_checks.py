"""Offline validators for compose.yaml: the official Compose Specification schema plus our own rules.

No Docker engine is needed. The schema is the compose-spec JSON schema vendored by the
`check-jsonschema` package (PyPI; schema licensed Apache-2.0 by the Compose Specification
authors). Every validator returns a list of human-readable problems; empty means valid.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = REPO_ROOT / "compose.yaml"

# The stagegate processes; all three run the image built from the project Dockerfile.
APP_SERVICES = ("worker", "callback-server", "service-mock")
# The two that talk to Temporal and sign/verify callback URLs.
TEMPORAL_APP_SERVICES = ("worker", "callback-server")
SECRET_VARIABLE = "CALLBACK_SIGNING_SECRETS"
WORKER_REPLICAS = 2
# Conditions that make a dependent wait for readiness or completion, not mere start.
READY_CONDITIONS = frozenset({"service_healthy", "service_completed_successfully"})
LONG_RUNNING_RESTART = "unless-stopped"
MERGE_TAG = "tag:yaml.org,2002:merge"

Doc = dict[str, Any]


class InterpolationError(ValueError):
    """A `${VAR:?message}` (or `${VAR?message}`) variable is unset, as `docker compose` would report."""


class DuplicateKeyError(ValueError):
    """A mapping repeats a key; Compose rejects the file, YAML loaders may silently keep the last value."""


def load_compose(text: str) -> Doc:
    """Parse compose YAML like Compose does: YAML 1.2, anchors and `<<` merges resolved, duplicate keys rejected."""
    yaml = YAML(typ="safe", pure=True)
    if duplicates := _duplicate_keys(yaml.compose(text)):
        raise DuplicateKeyError("duplicate keys: " + "; ".join(duplicates))
    doc = yaml.load(text)
    if not isinstance(doc, dict):
        raise ValueError("a compose file must be a mapping at the top level")
    return doc


def _duplicate_keys(root: Node | None) -> list[str]:
    """Keys repeated within one mapping, as `key (line N)`; ruamel only checks mappings without `<<` merges."""
    found: list[str] = []
    seen_nodes: set[int] = set()
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:  # an alias of an anchor already visited
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != MERGE_TAG:
                    if key.value in keys:
                        found.append(f"{key.value} (line {key.start_mark.line + 1})")
                    keys.add(key.value)
                todo += [key, value]
        elif isinstance(node, SequenceNode):
            todo += node.value
    return found


@functools.cache
def compose_schema() -> Mapping[str, Any]:
    """The official Compose Specification JSON schema, as vendored by check-jsonschema (no network)."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    return schema


@functools.cache
def _schema_validator() -> jsonschema.protocols.Validator:
    schema = compose_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _most_specific(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For `oneOf`/`anyOf` failures, the sub-error of the alternative that got furthest into the document."""
    while err.context:
        err = max(err.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return err


def schema_errors(doc: Doc) -> list[str]:
    """Violations of the Compose Specification schema, each as `path: message`."""
    problems = []
    for err in _schema_validator().iter_errors(doc):
        detail = _most_specific(err)
        where = ".".join(str(p) for p in detail.absolute_path) or "<top level>"
        problems.append(f"{where}: {detail.message}")
    return sorted(problems)


# --- interpolation --------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Substitute `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`,
    `${VAR:+alt}`, `${VAR+alt}` and `$$` in every string of `value`, as Compose does before loading."""
    if isinstance(value, str):
        return _interpolate_str(value, env)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def _interpolate_str(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            raise ValueError(f"invalid interpolation format in {text!r}: a lone '$' must be written '$$'")
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text.startswith("${", j):
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unterminated '${{' in {text!r}")


def _expand(expr: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(expr)
    if match is None:
        raise ValueError(f"invalid variable name in '${{{expr}}}'")
    name, rest = match.group(), expr[match.end() :]
    value = env.get(name)
    if rest == "":
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            present = value is not None and (value != "" or ":" not in op)
            if op.endswith("-"):
                return value if present and value is not None else _interpolate_str(arg, env)
            if op.endswith("?"):
                if not present:
                    raise InterpolationError(f"required variable {name} is missing a value: {arg}")
                return value or ""
            return _interpolate_str(arg, env) if present else ""
    raise ValueError(f"invalid interpolation format in '${{{expr}}}'")


# --- our own structural rules ---------------------------------------------------------------


def _services(doc: Doc) -> dict[str, Doc]:
    services = doc.get("services")
    return services if isinstance(services, dict) else {}


def _dependencies(service: Doc) -> dict[str, Doc]:
    """`depends_on` in long form; the short list form maps to condition service_started."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(name): {"condition": "service_started"} for name in deps}
    return {str(name): (spec or {}) for name, spec in deps.items()}


def _environment(service: Doc) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (p[1] if len(p) == 2 else None) for p in pairs}
    return dict(env)


def _has_healthcheck(service: Doc) -> bool:
    check = service.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable") in (True, "true"):
        return False
    test = check.get("test")
    if isinstance(test, list):
        return bool(test) and test[0] != "NONE"
    return bool(test) and test != "NONE"


def _is_one_shot(service: Doc) -> bool:
    """A run-to-completion job, marked by `restart: "no"`; every other service is long-running."""
    return service.get("restart") == "no"


def _published_ports(service: Doc) -> Iterator[tuple[str, str]]:
    """(host ip, host port) for every port mapping that publishes on the host."""
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") not in (None, ""):
                yield str(port.get("host_ip") or "0.0.0.0"), str(port["published"])
            continue
        spec = str(port).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            yield parts[0].strip("[]") or "0.0.0.0", parts[1]
        elif len(parts) == 2:
            yield "0.0.0.0", parts[0]


def _image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def structural_errors(doc: Doc, root: Path = REPO_ROOT) -> list[str]:
    """Rules the schema cannot express; `doc` is the parsed (not interpolated) compose file."""
    services = _services(doc)
    if not services:
        return ["no services defined"]
    problems: list[str] = []
    if "version" in doc:
        problems.append("top level: the obsolete `version` key must not be set (Compose Specification)")
    for name, svc in services.items():
        own = _image_errors(svc, root) + _lifecycle_errors(svc) + _volume_errors(svc, root)
        own += _dependency_errors(svc, services)
        problems += [f"services.{name}: {p}" for p in own]
    problems += _app_service_errors(services)
    problems += _shared_environment_errors(doc, services)
    problems += _worker_errors(services.get("worker", {}))
    problems += _port_conflicts(services)
    return problems


def _image_errors(svc: Doc, root: Path) -> list[str]:
    image, build = svc.get("image"), svc.get("build")
    if not image and not build:
        return ["sets neither `image` nor `build`"]
    if not build:
        pinned = _image_is_pinned(str(image))
        return [] if pinned else [f"image {image!r} must be pinned to a version tag (not latest) or a digest"]
    context = root / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
    return [] if dockerfile.is_file() else [f"build file {dockerfile} does not exist"]


def _lifecycle_errors(svc: Doc) -> list[str]:
    if _is_one_shot(svc):
        replicas = (svc.get("deploy") or {}).get("replicas", 1)
        return [] if replicas == 1 else ["a one-shot job must run exactly once"]
    problems = []
    if svc.get("restart") != LONG_RUNNING_RESTART:
        problems.append(f"a long-running service needs `restart: {LONG_RUNNING_RESTART}`")
    if not _has_healthcheck(svc) and not _healthcheck_knowingly_disabled(svc):
        problems.append("a long-running service needs a healthcheck")
    return problems


def _healthcheck_knowingly_disabled(svc: Doc) -> bool:
    """`healthcheck: {disable: true}` on an optional (profile) service: for images with nothing to run a check
    with (a lone binary). Nothing may wait for such a service to be healthy (see _dependency_errors)."""
    check = svc.get("healthcheck")
    return bool(svc.get("profiles")) and isinstance(check, dict) and check.get("disable") in (True, "true")


def _volume_errors(svc: Doc, root: Path) -> list[str]:
    problems = []
    for volume in svc.get("volumes") or []:
        source = volume.split(":", 1)[0] if isinstance(volume, str) else str(volume.get("source", ""))
        if source.startswith((".", "/")) and not (root / source).exists():
            problems.append(f"bind-mount source {source!r} does not exist")
    return problems


def _dependency_errors(svc: Doc, services: dict[str, Doc]) -> list[str]:
    problems = []
    own_profiles = set(svc.get("profiles") or [])
    for dep, spec in _dependencies(svc).items():
        target = services.get(dep)
        if target is None:
            problems.append(f"depends_on {dep!r}, which is not a service in this file")
            continue
        condition = spec.get("condition", "service_started")
        if condition == "service_healthy" and not _has_healthcheck(target):
            problems.append(f"waits for {dep!r} to be healthy, but {dep!r} has no healthcheck")
        if condition == "service_completed_successfully" and not _is_one_shot(target):
            problems.append(f"waits for {dep!r} to complete, but {dep!r} is restarted (it never completes)")
        # A dependency must be enabled whenever the dependent is, unless marked `required: false`.
        target_profiles = set(target.get("profiles") or [])
        always_enabled_with_me = not target_profiles or (own_profiles and own_profiles <= target_profiles)
        if not always_enabled_with_me and spec.get("required", True):
            problems.append(
                f"depends_on {dep!r}, which only runs in profile(s) {sorted(target_profiles)}: "
                "it is disabled whenever this service is not"
            )
    return problems


def _app_service_errors(services: dict[str, Doc]) -> list[str]:
    problems: list[str] = []
    for name in APP_SERVICES:
        svc = services.get(name)
        if svc is None:
            problems.append(f"services.{name}: missing (every stagegate process runs as a service)")
            continue
        if not svc.get("build"):
            problems.append(f"services.{name}: must build the project Dockerfile (`build:`)")
        if name in TEMPORAL_APP_SERVICES and not svc.get("depends_on"):
            problems.append(f"services.{name}: must wait for Temporal setup (`depends_on` is empty)")
        for dep, spec in _dependencies(svc).items():
            condition = spec.get("condition", "service_started")
            if condition not in READY_CONDITIONS:
                problems.append(
                    f"services.{name}: depends_on {dep!r} with condition {condition!r}; "
                    f"use one of {sorted(READY_CONDITIONS)}"
                )
    return problems


def _shared_environment_errors(doc: Doc, services: dict[str, Doc]) -> list[str]:
    problems: list[str] = []
    shared = doc.get("x-app-environment")
    if not isinstance(shared, dict):
        problems.append("top level: `x-app-environment` (the shared app environment anchor) is missing")
        shared = {}
    required_secret = f"${{{SECRET_VARIABLE}:?"
    for name, svc in services.items():
        env = _environment(svc)
        secret = env.get(SECRET_VARIABLE)
        if name not in TEMPORAL_APP_SERVICES:
            if secret is not None:
                problems.append(f"services.{name}: must not receive {SECRET_VARIABLE} (it does not sign or verify)")
            continue
        problems += [
            f"services.{name}: environment {key} differs from x-app-environment"
            for key, value in shared.items()
            if env.get(key, object()) != value
        ]
        if not (isinstance(secret, str) and secret.startswith(required_secret)):
            problems.append(f"services.{name}: {SECRET_VARIABLE} must be required ({required_secret}...}}): {secret!r}")
    return problems


def _worker_errors(worker: Doc) -> list[str]:
    problems = []
    replicas = (worker.get("deploy") or {}).get("replicas")
    if replicas != WORKER_REPLICAS:
        problems.append(f"services.worker: deploy.replicas must be {WORKER_REPLICAS}, got {replicas!r}")
    if worker.get("container_name"):
        problems.append("services.worker: container_name cannot be set on a replicated service")
    if list(_published_ports(worker)):
        problems.append("services.worker: must not publish host ports (its replicas would clash)")
    return problems


def _port_conflicts(services: dict[str, Doc]) -> list[str]:
    """Two services publishing one host port cannot both run (checked across all profiles)."""
    published = [(name, ip, port) for name, svc in services.items() for ip, port in _published_ports(svc)]
    problems = []
    for i, (name, ip, port) in enumerate(published):
        for other, other_ip, other_port in published[:i]:
            same_address = ip == other_ip or "0.0.0.0" in (ip, other_ip)
            if other != name and port == other_port and same_address:
                problems.append(f"services.{name}: host port {port} is also published by {other!r}")
    return problems
