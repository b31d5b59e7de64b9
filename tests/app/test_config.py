"""Settings: working local defaults, Temporal env config, clear errors for bad values."""

from __future__ import annotations

import base64

import pytest

from app.callbacks.server import create_app
from app.errors import SettingsError
from app.runtime.config import DEV_SIGNING_SECRET, load_settings


def test_defaults_work_locally() -> None:
    s = load_settings({"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"})
    assert s.temporal.address == "localhost:7233"
    assert s.temporal.namespace == "default"
    assert s.callback_base_url == "http://127.0.0.1:8000"
    assert s.service_url == "http://127.0.0.1:8001"
    # No secret written in the source signs anything unless development mode is asked for.
    assert s.signing_secrets == ()
    assert s.signing_mode == "none"
    assert (s.callback_max_body_bytes, s.callback_max_result_bytes) == (64 * 1024, 32 * 1024)


def test_urls_follow_the_ports_the_dev_stack_uses() -> None:
    """`SERVICE_PORT=9001 just up` must reach the mock on 9001 from the CLI too, not the default 8001."""
    s = load_settings({"SERVICE_PORT": "9001", "TEMPORAL_UI_PORT": "9233", "CALLBACK_PORT": "9000"})
    assert s.service_url == "http://127.0.0.1:9001"
    assert s.temporal.ui_url == "http://localhost:9233"
    assert s.callback_base_url == "http://127.0.0.1:9000"
    given = load_settings(
        {"SERVICE_PORT": "9001", "SERVICE_URL": "https://svc.example/", "TEMPORAL_UI_URL": "https://ui/"}
    )
    assert (given.service_url, given.temporal.ui_url) == ("https://svc.example", "https://ui")


def test_callback_limits_from_env() -> None:
    s = load_settings({"CALLBACK_MAX_BODY_BYTES": "1000", "CALLBACK_MAX_RESULT_BYTES": "500"})
    assert (s.callback_max_body_bytes, s.callback_max_result_bytes) == (1000, 500)


def test_temporal_budget_and_retry_after() -> None:
    assert (load_settings({}).callback_temporal_timeout_seconds, load_settings({}).callback_retry_after_seconds) == (
        3.0,
        5,
    )
    s = load_settings({"CALLBACK_TEMPORAL_TIMEOUT": "1.5", "CALLBACK_RETRY_AFTER": "2"})
    assert (s.callback_temporal_timeout_seconds, s.callback_retry_after_seconds) == (1.5, 2)
    for name, value in [
        ("CALLBACK_TEMPORAL_TIMEOUT", "0"),
        ("CALLBACK_TEMPORAL_TIMEOUT", "nan"),
        ("CALLBACK_RETRY_AFTER", "-1"),
    ]:
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value})


def test_webhook_keys_are_parsed_by_their_scheme_when_the_callback_server_starts() -> None:
    # Settings keep keys as written; the Standard Webhooks scheme parses them once, in create_app.
    settings = load_settings({"CALLBACK_WEBHOOK_SENDERS": "kyc=nope"})
    assert settings.callback_webhook_senders == {"kyc": ("nope",)}
    with pytest.raises(SettingsError, match="CALLBACK_WEBHOOK_SENDERS, sender 'kyc': a webhook key must start"):
        create_app(settings)


def test_webhook_senders_and_sender_name() -> None:
    key_a, key_b = "whsec_" + base64.b64encode(b"a").decode(), "whsec_" + base64.b64encode(b"bb").decode()
    s = load_settings(
        {"CALLBACK_WEBHOOK_SENDERS": f"kyc={key_a} {key_b}; esign={key_b}", "CALLBACK_WEBHOOK_SENDER": "kyc"}
    )
    assert s.callback_webhook_senders == {"kyc": (key_a, key_b), "esign": (key_b,)}
    assert (s.callback_webhook_sender, s.callback_webhook_tolerance_seconds) == ("kyc", 300)
    assert "callback_webhook_senders" not in repr(s)  # keys stay out of logs and reprs
    assert load_settings({}).callback_webhook_senders == {}
    for name, value in [
        ("CALLBACK_WEBHOOK_SENDERS", f"kyc {key_a}"),
        ("CALLBACK_WEBHOOK_SENDERS", "kyc="),
        ("CALLBACK_WEBHOOK_SENDERS", f"k y c={key_a}"),
        ("CALLBACK_WEBHOOK_SENDER", "not a name"),
        ("CALLBACK_WEBHOOK_TOLERANCE", "0"),
    ]:
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value})


def test_temporal_env_config_is_used() -> None:
    s = load_settings(
        {
            "TEMPORAL_ADDRESS": "my-ns.a1b2c.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "my-ns.a1b2c",
            "TEMPORAL_API_KEY": "key",
        }
    )
    assert s.temporal.address == "my-ns.a1b2c.tmprl.cloud:7233"
    assert s.temporal.namespace == "my-ns.a1b2c"
    assert s.temporal.connect_kwargs["api_key"] == "key"
    assert s.temporal.connect_kwargs["tls"]  # an API key implies TLS


def test_secret_list_for_rotation() -> None:
    new, old = "n" * 32, "o" * 40
    s = load_settings({"CALLBACK_SIGNING_SECRETS": f" {new} , {old} ,"})
    assert s.signing_secrets == (new, old)
    assert not s.using_dev_secret
    assert s.signing_mode == "configured"


def test_dev_mode_signs_with_the_dev_secret_only_when_no_secret_is_given() -> None:
    dev = load_settings({"STAGEGATE_DEV_MODE": "1"})
    assert (dev.signing_secrets, dev.signing_mode, dev.dev_mode) == ((DEV_SIGNING_SECRET,), "development", True)
    real = load_settings({"STAGEGATE_DEV_MODE": "1", "CALLBACK_SIGNING_SECRETS": "r" * 32})
    assert (real.signing_secrets, real.signing_mode) == (("r" * 32,), "configured")


@pytest.mark.parametrize("short", ["x" * 31, "é" * 15, DEV_SIGNING_SECRET])
def test_a_secret_shorter_than_32_bytes_is_refused(short: str) -> None:
    with pytest.raises(SettingsError, match=r"secret #2 is \d+ bytes; each must be at least 32") as caught:
        load_settings({"CALLBACK_SIGNING_SECRETS": f"{'a' * 32},{short}"})
    assert short not in str(caught.value)  # the value is never echoed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CALLBACK_PORT": "eighty"}, "CALLBACK_PORT must be an integer"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be auto, json or console"),
        ({"WORKER_FAIL_ON_NONDETERMINISM": "maybe"}, "must be true or false"),
        ({"SERVICE_REQUEST_TIMEOUT": "soon"}, "must be a number"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


# --- tracing (standard OTEL_* variables) ---------------------------------------------------------


def test_tracing_is_off_by_default() -> None:
    tracing = load_settings({}).tracing
    assert (tracing.enabled, tracing.exporters) == (False, ())


@pytest.mark.parametrize(
    ("env", "exporters", "endpoint"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, ("otlp",), "http://collector:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, ("otlp",), "http://c:4318/custom"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",), "http://localhost:4318/v1/traces"),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ("console", "otlp"), "http://localhost:4318/v1/traces"),
        (
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            (),
            "http://c:4318/v1/traces",
        ),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, (), "http://localhost:4318/v1/traces"),
    ],
)
def test_tracing_from_otel_variables(env: dict[str, str], exporters: tuple[str, ...], endpoint: str) -> None:
    tracing = load_settings(env).tracing
    assert (tracing.exporters, tracing.otlp_endpoint) == (exporters, endpoint)


def test_tracing_service_name_and_headers() -> None:
    tracing = load_settings(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_SERVICE_NAME": "my-worker",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc, x-tenant=t1",
        }
    ).tracing
    assert tracing.service_name == "my-worker"
    assert tracing.otlp_headers == {"authorization": "Bearer abc", "x-tenant": "t1"}
    assert "abc" not in repr(tracing)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER must be otlp, console or none"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "only http/protobuf"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "key=value"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED must be true or false"),
    ],
)
def test_bad_tracing_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)
