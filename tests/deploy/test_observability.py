"""compose.yaml's `observability` profile: collector, Jaeger and Prometheus wired to the ports the apps really use.

No Docker here: the configs are parsed and cross-checked against compose.yaml and against the apps' own
settings code (what a process would export to, what it serves metrics on).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from app.runtime.config import load_settings
from service_mock.config import load_settings as load_service_settings
from tests.deploy import compose_checks as cc

PROFILE = "observability"
OBSERVABILITY_SERVICES = {"otel-collector", "jaeger", "prometheus"}
SECRET_ENV = {"CALLBACK_SIGNING_SECRETS": "test-secret-of-at-least-32-bytes-0123"}
COLLECTOR_ENDPOINT = "http://otel-collector:4318"


def _yaml(relative: str) -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load((cc.REPO_ROOT / relative).read_text(encoding="utf-8"))
    assert isinstance(doc, dict), relative
    return doc


@pytest.fixture
def services() -> dict[str, cc.Doc]:
    doc = cc.load_compose(cc.COMPOSE_PATH.read_text(encoding="utf-8"))
    found: dict[str, cc.Doc] = doc["services"]
    return found


def _mounted(service: cc.Doc, target: str) -> str:
    """The repository file bind-mounted at `target` in the container."""
    for volume in service.get("volumes") or []:
        source, mounted, *_ = str(volume).split(":")
        if mounted == target:
            return source
    raise AssertionError(f"nothing is mounted at {target}")


def _container_env(service: cc.Doc, env: dict[str, str]) -> dict[str, str]:
    """The environment the container gets (pass-through variables unset in `env` are absent)."""
    environment = cc.interpolate(service, env).get("environment") or {}
    values = {k: str(v) for k, v in environment.items() if v is not None}
    return values | {"TEMPORAL_CONFIG_FILE": "/nonexistent"}  # no developer's Temporal profile


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _published(service: cc.Doc) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports") or []}


def test_profile_holds_exactly_the_observability_services(services: dict[str, cc.Doc]) -> None:
    in_profile = {name for name, svc in services.items() if PROFILE in (svc.get("profiles") or [])}
    assert in_profile == OBSERVABILITY_SERVICES
    # Optional: none of the default stack depends on them.
    for name, svc in services.items():
        if name not in in_profile:
            assert not set(svc.get("depends_on") or {}) & in_profile, name


def test_collector_config_receives_otlp_and_exports_to_jaeger(services: dict[str, cc.Doc]) -> None:
    collector = services["otel-collector"]
    config_file = _mounted(collector, "/etc/otelcol/stagegate.yaml")
    assert collector["command"] == ["--config=/etc/otelcol/stagegate.yaml"]
    config = _yaml(config_file)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert _port_of(protocols["http"]["endpoint"]) == 4318
    assert _port_of(protocols["grpc"]["endpoint"]) == 4317
    assert _published(collector) == {4317, 4318}
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert set(pipeline["processors"]) <= set(config["processors"])
    (exporter,) = pipeline["exporters"]
    host, port = config["exporters"][exporter]["endpoint"].split(":")
    assert host == "jaeger"
    assert int(port) == 4317  # Jaeger's own OTLP gRPC receiver
    assert collector["depends_on"] == {"jaeger": {"condition": "service_healthy"}}
    assert 16686 in _published(services["jaeger"])


def test_prometheus_scrapes_the_ports_the_apps_serve_metrics_on(services: dict[str, cc.Doc]) -> None:
    prometheus = services["prometheus"]
    config = _yaml(_mounted(prometheus, "/etc/prometheus/prometheus.yml"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"stagegate-worker", "stagegate-callback-server"}
    env = {**SECRET_ENV}
    # Workers: every replica by DNS, on the port the worker binds its metrics to inside its container.
    worker_settings = load_settings(_container_env(services["worker"], env))
    (sd,) = jobs["stagegate-worker"]["dns_sd_configs"]
    assert sd["names"] == ["worker"]
    assert sd["type"] == "A"
    assert sd["port"] == _port_of(worker_settings.worker_metrics_bind)
    assert str(sd["port"]) in [str(p) for p in services["worker"]["expose"]]
    assert jobs["stagegate-worker"].get("metrics_path", "/metrics") == "/metrics"

    # The callback server: its one HTTP port serves /metrics next to the callbacks.
    callback_settings = load_settings(_container_env(services["callback-server"], env))
    (static,) = jobs["stagegate-callback-server"]["static_configs"]
    assert static["targets"] == [f"callback-server:{callback_settings.callback_port}"]
    assert jobs["stagegate-callback-server"].get("metrics_path", "/metrics") == "/metrics"


def test_tracing_is_off_by_default_and_reaches_the_collector_when_asked(services: dict[str, cc.Doc]) -> None:
    collector_port = _port_of(_yaml("deploy/otel-collector.yaml")["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    for asked in (False, True):
        env = {**SECRET_ENV, **({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR_ENDPOINT} if asked else {})}
        for name in cc.APP_SERVICES:
            environment = _container_env(services[name], env)
            if name == "service-mock":
                tracing = load_service_settings(environment).tracing
                exporters, endpoint = tracing.exporters, tracing.otlp_endpoint
            else:
                app_tracing = load_settings(environment).tracing
                exporters, endpoint = app_tracing.exporters, app_tracing.otlp_endpoint
            if not asked:
                assert exporters == (), name
                continue
            assert exporters == ("otlp",), name
            url = urlsplit(endpoint)
            assert (url.hostname, url.port, url.path) == ("otel-collector", collector_port, "/v1/traces"), name
