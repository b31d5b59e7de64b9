"""Settings for the service mock come from the environment, with defaults and clear errors."""

from __future__ import annotations

import pytest

from service_mock.config import Settings, SettingsError, load_settings


def test_defaults() -> None:
    assert load_settings({}) == Settings(
        host="127.0.0.1",
        port=8001,
        log_level="INFO",
        log_format="auto",
        callback_max_attempts=None,
        callback_retry_window=86400.0,
        callback_backoff_initial=0.2,
        callback_backoff_max=30.0,
        callback_retry_after_max=600.0,
        callback_timeout=5.0,
        heartbeat_count=3,
        heartbeat_interval=0.3,
    )


def test_webhook_keys() -> None:
    keys = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_AAAA"
    assert load_settings({"SERVICE_WEBHOOK_KEYS": keys}).webhook_keys == tuple(keys.split())
    for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_no*pe"]:
        with pytest.raises(SettingsError, match="SERVICE_WEBHOOK_KEYS"):
            load_settings({"SERVICE_WEBHOOK_KEYS": bad})


def test_max_attempts_zero_means_no_cap() -> None:
    assert load_settings({"SERVICE_CALLBACK_MAX_ATTEMPTS": "0"}).callback_max_attempts is None


def test_overrides() -> None:
    settings = load_settings(
        {
            "SERVICE_HOST": "0.0.0.0",
            "SERVICE_PORT": "9000",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "JSON",
            "SERVICE_CALLBACK_MAX_ATTEMPTS": "2",
            "SERVICE_CALLBACK_BACKOFF_INITIAL": "0.5",
            "SERVICE_CALLBACK_BACKOFF_MAX": "1",
            "SERVICE_CALLBACK_RETRY_WINDOW": "120",
            "SERVICE_CALLBACK_RETRY_AFTER_MAX": "60",
            "SERVICE_CALLBACK_TIMEOUT": "2.5",
            "SERVICE_HEARTBEAT_COUNT": "0",
            "SERVICE_HEARTBEAT_INTERVAL": "0.01",
        }
    )
    assert settings == Settings(
        host="0.0.0.0",
        port=9000,
        log_level="DEBUG",
        log_format="json",
        callback_max_attempts=2,
        callback_backoff_initial=0.5,
        callback_backoff_max=1.0,
        callback_retry_window=120.0,
        callback_retry_after_max=60.0,
        callback_timeout=2.5,
        heartbeat_count=0,
        heartbeat_interval=0.01,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SERVICE_PORT", "eighty"),
        ("SERVICE_PORT", "70000"),
        ("SERVICE_CALLBACK_MAX_ATTEMPTS", "-1"),
        ("SERVICE_CALLBACK_RETRY_WINDOW", "0"),
        ("SERVICE_CALLBACK_RETRY_AFTER_MAX", "soon"),
        ("SERVICE_CALLBACK_BACKOFF_INITIAL", "-1"),
        ("SERVICE_CALLBACK_BACKOFF_MAX", "nan"),
        ("SERVICE_HEARTBEAT_COUNT", "-2"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("SERVICE_KEEP_FIRST_CALLBACK_URL", "sometimes"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(("raw", "keep"), [("", False), ("0", False), ("no", False), ("1", True), ("TRUE", True)])
def test_keep_first_callback_url_flag(raw: str, keep: bool) -> None:
    assert load_settings({"SERVICE_KEEP_FIRST_CALLBACK_URL": raw}).keep_first_callback_url is keep


def test_tracing_follows_the_same_otel_variables() -> None:
    assert load_settings({}).tracing.exporters == ()
    tracing = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}).tracing
    assert (tracing.exporters, tracing.otlp_endpoint) == (("otlp",), "http://collector:4318/v1/traces")
    assert tracing.service_name == "stagegate-service-mock"
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER"):
        load_settings({"OTEL_TRACES_EXPORTER": "zipkin"})
