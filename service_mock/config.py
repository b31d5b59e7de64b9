"""The one place that reads the environment: frozen settings for the service mock."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

from service_mock.signing import check_key

LogFormat = Literal["auto", "json", "console"]
_LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TraceExporter = Literal["otlp", "console"]
_TRACE_EXPORTERS: tuple[TraceExporter, ...] = ("otlp", "console")
DEFAULT_OTLP_TRACES_ENDPOINT = "http://localhost:4318/v1/traces"


class SettingsError(ValueError):
    """An environment variable holds a value the service mock cannot use."""


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """OpenTelemetry export from the standard OTEL_* variables (as the app reads them); none means off."""

    exporters: tuple[TraceExporter, ...] = ()
    service_name: str = "stagegate-service-mock"
    otlp_endpoint: str = DEFAULT_OTLP_TRACES_ENDPOINT
    otlp_headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service mock needs to know about its surroundings."""

    host: str = "127.0.0.1"
    port: int = 8001
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    # None: no attempt cap; a failing callback is retried for `callback_retry_window` seconds, like real
    # webhook senders (hours to days). An expired callback URL gets a 4xx, which ends the retries sooner.
    callback_max_attempts: int | None = None
    callback_retry_window: float = 24 * 3600.0
    callback_backoff_initial: float = 0.2
    callback_backoff_max: float = 30.0
    # A receiver's Retry-After (on 503/429) is honoured up to this many seconds: a broken or hostile
    # receiver cannot park a callback for a day with one header.
    callback_retry_after_max: float = 600.0
    # Per-attempt HTTP timeout; a hung receiver must not stall the retry loop forever.
    callback_timeout: float = 5.0
    heartbeat_count: int = 3
    heartbeat_interval: float = 0.3
    # When set, every callback carries a Standard Webhooks body signature: one per key (all sign, so a
    # receiver mid-rotation matches whichever it holds); `webhook-id` is the callback's callback_id.
    webhook_keys: tuple[str, ...] = field(default=(), repr=False)
    # When set, POST /publish wants `Authorization: Bearer <token>` (401 otherwise), like a real API would.
    publish_token: str | None = None
    # A repeated request (same idempotency key) normally moves the job's callbacks to the URL it carries; set, the
    # job keeps calling the URL it got first, as many real services do (token mode must cope: its URL survives).
    keep_first_callback_url: bool = False
    tracing: TracingSettings = field(default_factory=TracingSettings)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingsError(f"{name} must be {bounds}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not value >= minimum:  # also rejects nan
        raise SettingsError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def _webhook_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    keys = tuple(env.get("SERVICE_WEBHOOK_KEYS", "").split())
    for key in keys:
        try:
            check_key(key)
        except ValueError as exc:
            raise SettingsError(f"SERVICE_WEBHOOK_KEYS: {exc}") from exc
    return keys


def _log_format(env: Mapping[str, str]) -> LogFormat:
    raw = env.get("LOG_FORMAT", "").strip().lower() or "auto"
    for fmt in _LOG_FORMATS:
        if raw == fmt:
            return fmt
    raise SettingsError(f"LOG_FORMAT must be auto, json or console, got {raw!r}")


def _log_level(env: Mapping[str, str]) -> str:
    raw = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in _LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
    return raw


def _tracing(env: Mapping[str, str]) -> TracingSettings:
    """Off unless OTEL_TRACES_EXPORTER (otlp, console, none) or an OTLP endpoint is set; OTEL_SDK_DISABLED wins."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TracingSettings()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    endpoint = endpoint or (f"{base.rstrip('/')}/v1/traces" if base else "")
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    exporters: list[TraceExporter] = []
    for name in names or (["otlp"] if endpoint else []):
        known = next((e for e in _TRACE_EXPORTERS if e == name), None)
        if known is None and name != "none":
            raise SettingsError(f"OTEL_TRACES_EXPORTER must be otlp, console or none, got {name!r}")
        if known is not None and known not in exporters:
            exporters.append(known)
    raw_headers = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "").strip() or env.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    pairs = [item.partition("=") for item in raw_headers.split(",") if item.strip()]
    if any(not sep for _, sep, _ in pairs):
        raise SettingsError("OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs")
    return TracingSettings(
        exporters=tuple(exporters),
        service_name=env.get("OTEL_SERVICE_NAME", "").strip() or "stagegate-service-mock",
        otlp_endpoint=endpoint or DEFAULT_OTLP_TRACES_ENDPOINT,
        otlp_headers={unquote(k.strip()).lower(): unquote(v.strip()) for k, _, v in pairs},
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name} must be 1/true/yes or 0/false/no, got {raw!r}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment once; the entry point passes the result down."""
    env = os.environ if env is None else env
    return Settings(
        host=env.get("SERVICE_HOST", "").strip() or "127.0.0.1",
        port=_int(env, "SERVICE_PORT", 8001, minimum=0, maximum=65535),
        log_level=_log_level(env),
        log_format=_log_format(env),
        callback_max_attempts=_int(env, "SERVICE_CALLBACK_MAX_ATTEMPTS", 0, minimum=0) or None,
        callback_retry_window=_float(env, "SERVICE_CALLBACK_RETRY_WINDOW", 24 * 3600.0, minimum=0.001),
        callback_backoff_initial=_float(env, "SERVICE_CALLBACK_BACKOFF_INITIAL", 0.2, minimum=0.0),
        callback_backoff_max=_float(env, "SERVICE_CALLBACK_BACKOFF_MAX", 30.0, minimum=0.0),
        callback_retry_after_max=_float(env, "SERVICE_CALLBACK_RETRY_AFTER_MAX", 600.0, minimum=0.0),
        callback_timeout=_float(env, "SERVICE_CALLBACK_TIMEOUT", 5.0, minimum=0.001),
        heartbeat_count=_int(env, "SERVICE_HEARTBEAT_COUNT", 3, minimum=0),
        heartbeat_interval=_float(env, "SERVICE_HEARTBEAT_INTERVAL", 0.3, minimum=0.0),
        webhook_keys=_webhook_keys(env),
        publish_token=env.get("SERVICE_PUBLISH_TOKEN", "").strip() or None,
        keep_first_callback_url=_flag(env, "SERVICE_KEEP_FIRST_CALLBACK_URL"),
        tracing=_tracing(env),
    )
