"""The one place that reads the environment: frozen settings for every process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from temporalio.envconfig import ClientConfigProfile

LogFormat = Literal["auto", "json", "console"]
# The callback server's uvicorn: HTTP parser and event loop ("auto": httptools and uvloop when installed).
CALLBACK_HTTP_CHOICES = ("auto", "h11", "httptools")
CALLBACK_LOOP_CHOICES = ("auto", "asyncio", "uvloop")

DEV_SIGNING_SECRET = "stagegate-dev-secret-change-me"  # noqa: S105  # local-only default; startup warns


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""


@dataclass(frozen=True)
class TemporalSettings:
    """How to reach Temporal, as loaded by `temporalio.envconfig` (TEMPORAL_* variables, profiles)."""

    address: str
    namespace: str
    connect_kwargs: Mapping[str, Any] = field(default_factory=dict, repr=False)
    ui_url: str = "http://localhost:8233"


@dataclass(frozen=True)
class Settings:
    """Everything a stagegate process needs to know about its surroundings."""

    temporal: TemporalSettings
    task_queue: str = "stagegate"
    callback_host: str = "127.0.0.1"
    callback_port: int = 8000
    callback_base_url: str = "http://127.0.0.1:8000"
    callback_max_body_bytes: int = 64 * 1024
    # A callback's `result` lands in workflow history (every progress callback's too): keep each one small.
    callback_max_result_bytes: int = 32 * 1024
    callback_http: str = "auto"
    callback_loop: str = "auto"
    service_url: str = "http://127.0.0.1:8001"
    service_request_timeout_seconds: float = 60.0
    # First secret signs; all of them verify, so a new secret can be rolled in before an old one is dropped.
    signing_secrets: tuple[str, ...] = (DEV_SIGNING_SECRET,)
    # Callback URLs stay valid this long after the stage deadline (late deliveries get a clear 4xx, not 403).
    callback_url_grace_seconds: int = 3600
    worker_metrics_bind: str = "127.0.0.1:9464"
    worker_max_concurrent_activities: int = 200
    worker_max_cached_workflows: int = 1000
    # Tests turn a determinism bug into a failed workflow; production keeps Temporal's default (retry the
    # workflow task) so a bad deploy can be rolled back without losing runs.
    worker_fail_on_nondeterminism: bool = False
    log_format: LogFormat = "auto"
    log_level: str = "INFO"
    # The worker environment variables pipelines may use as `${env.NAME}` (see `pipeline_env_from`): read here,
    # once, like everything else; repr=False keeps their values (API keys) out of logs and reprs.
    pipeline_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def using_dev_secret(self) -> bool:
        """True while the well-known development secret is still in use."""
        return DEV_SIGNING_SECRET in self.signing_secrets


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


DEFAULT_PIPELINE_ENV = "SERVICE_URL,PIPELINE_*"


def pipeline_env_from(env: Mapping[str, str]) -> dict[str, str]:
    """The variables `STAGEGATE_PIPELINE_ENV` exposes to pipelines: comma-separated names, `PREFIX*` for a prefix.

    An allow-list, so a pipeline file cannot send the worker's own secrets (signing secrets, Temporal API key,
    cloud credentials) to a URL of its choosing: only what the operator exposed can be used.
    """
    patterns = [p.strip() for p in env.get("STAGEGATE_PIPELINE_ENV", DEFAULT_PIPELINE_ENV).split(",") if p.strip()]

    def exposed(name: str) -> bool:
        return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)

    return {name: value for name, value in env.items() if exposed(name)}


def load_temporal_settings(env: Mapping[str, str]) -> TemporalSettings:
    """Temporal's own env config (TEMPORAL_ADDRESS, _NAMESPACE, _API_KEY, TLS, profiles) with a localhost default."""
    profile = ClientConfigProfile.load(override_env_vars=dict(env))
    connect = dict(profile.to_client_connect_config())
    address = str(connect.pop("target_host", None) or "localhost:7233")
    namespace = str(connect.pop("namespace", None) or "default")
    ui_url = env.get("TEMPORAL_UI_URL", "http://localhost:8233").rstrip("/")
    return TemporalSettings(address=address, namespace=namespace, connect_kwargs=connect, ui_url=ui_url)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment once; every entry point calls this and passes the result down."""
    env = os.environ if env is None else env
    callback_port = _int(env, "CALLBACK_PORT", 8000)
    secrets = tuple(s.strip() for s in env.get("CALLBACK_SIGNING_SECRETS", "").split(",") if s.strip())
    log_format = env.get("LOG_FORMAT", "auto").lower()
    if log_format not in ("auto", "json", "console"):
        raise SettingsError(f"LOG_FORMAT must be auto, json or console, got {log_format!r}")
    return Settings(
        temporal=load_temporal_settings(env),
        task_queue=env.get("STAGEGATE_TASK_QUEUE", "stagegate"),
        callback_host=env.get("CALLBACK_HOST", "127.0.0.1"),
        callback_port=callback_port,
        callback_base_url=env.get("CALLBACK_BASE_URL", f"http://127.0.0.1:{callback_port}").rstrip("/"),
        callback_max_body_bytes=_int(env, "CALLBACK_MAX_BODY_BYTES", 64 * 1024),
        callback_max_result_bytes=_int(env, "CALLBACK_MAX_RESULT_BYTES", 32 * 1024),
        callback_http=_choice(env, "CALLBACK_HTTP", CALLBACK_HTTP_CHOICES),
        callback_loop=_choice(env, "CALLBACK_LOOP", CALLBACK_LOOP_CHOICES),
        service_url=env.get("SERVICE_URL", "http://127.0.0.1:8001").rstrip("/"),
        service_request_timeout_seconds=_float(env, "SERVICE_REQUEST_TIMEOUT", 60.0),
        signing_secrets=secrets or (DEV_SIGNING_SECRET,),
        callback_url_grace_seconds=_int(env, "CALLBACK_URL_GRACE_SECONDS", 3600),
        worker_metrics_bind=env.get("WORKER_METRICS_BIND", f"127.0.0.1:{_int(env, 'WORKER_METRICS_PORT', 9464)}"),
        worker_max_concurrent_activities=_int(env, "WORKER_MAX_CONCURRENT_ACTIVITIES", 200),
        worker_max_cached_workflows=_int(env, "WORKER_MAX_CACHED_WORKFLOWS", 1000),
        worker_fail_on_nondeterminism=_bool(env, "WORKER_FAIL_ON_NONDETERMINISM", False),
        log_format=log_format,  # type: ignore[arg-type]  # checked just above
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        pipeline_env=pipeline_env_from(env),
    )
