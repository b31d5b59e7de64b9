"""The one place that reads the environment: frozen settings for every process."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import unquote

from temporalio.envconfig import ClientConfigProfile

from app.errors import SettingsError

LogFormat = Literal["auto", "json", "console"]
TraceExporter = Literal["otlp", "console"]
_TRACE_EXPORTERS: tuple[TraceExporter, ...] = ("otlp", "console")
# The OTLP/HTTP default of the OpenTelemetry specification (a collector on this machine).
DEFAULT_OTLP_TRACES_ENDPOINT = "http://localhost:4318/v1/traces"

# The callback server's uvicorn: HTTP parser and event loop ("auto": httptools and uvloop when installed).
CALLBACK_HTTP_CHOICES = ("auto", "h11", "httptools")
CALLBACK_LOOP_CHOICES = ("auto", "asyncio", "uvloop")

# Names of body-signing senders (they go into signed callback URLs as `snd`).
SENDER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# How far a signed body's timestamp may be from now, either way (Standard Webhooks' own default).
DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300

# Fixed-endpoint hook sources (`POST /hooks/{source}`): their names, and the per-source variable prefix.
HOOK_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
HOOK_OPTION_PREFIX = "STAGEGATE_HOOK_"
# The hook scheme that verifies nothing: allowed only with the source's own ALLOW_UNSIGNED opt-in.
UNSIGNED_HOOK_SCHEME = "none"
DEFAULT_HOOK_TTL_SECONDS = 24 * 3600.0

# Written in the source, so it authenticates nothing: used only with STAGEGATE_DEV_MODE=1, and the worker and
# the callback server refuse to run with it unless they listen on loopback only (app/runtime/signing_guard.py).
DEV_SIGNING_SECRET = "stagegate-dev-secret-change-me"  # noqa: S105  # development mode only
# An HMAC-SHA256 key shorter than its 32-byte output is guessable sooner than the MAC itself.
MIN_SIGNING_SECRET_BYTES = 32
SigningMode = Literal["configured", "development", "none"]


@dataclass(frozen=True)
class TemporalSettings:
    """How to reach Temporal, as loaded by `temporalio.envconfig` (TEMPORAL_* variables, profiles)."""

    address: str
    namespace: str
    connect_kwargs: Mapping[str, Any] = field(default_factory=dict, repr=False)
    ui_url: str = "http://localhost:8233"


@dataclass(frozen=True)
class TracingSettings:
    """OpenTelemetry trace export, from the standard OTEL_* variables; no exporter means tracing is off."""

    exporters: tuple[TraceExporter, ...] = ()
    # None: each process names itself (stagegate-worker, stagegate-callback-server, ...).
    service_name: str | None = None
    otlp_endpoint: str = DEFAULT_OTLP_TRACES_ENDPOINT
    # Collector credentials, e.g. `authorization=Bearer ...`: kept out of logs and reprs.
    otlp_headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        """True when spans are exported anywhere."""
        return bool(self.exporters)


@dataclass(frozen=True)
class HookSourceSettings:
    """One fixed-endpoint source, as configured: `POST /hooks/<name>`, verified by `scheme` with `secrets`.

    Paths are the product's dotted paths (`app.gate.paths`) into the event's JSON; the callback server checks
    their syntax and the scheme's name and options when it starts.
    """

    name: str
    scheme: str
    # Several during a rotation (any may match); from the environment only, never from a file.
    secrets: tuple[str, ...] = field(repr=False)
    key_path: str
    event_id_path: str | None = None
    tolerance_seconds: int = DEFAULT_WEBHOOK_TOLERANCE_SECONDS
    # Scheme options (only configurable schemes such as `hmac` take any), lower-case names.
    options: Mapping[str, str] = field(default_factory=dict)
    # Scheme `none` only: the operator's explicit opt-in to events nobody signed.
    allow_unsigned: bool = False
    # How long an event nobody waits on yet is kept for its stage to come (then dropped, answered 2xx anyway).
    ttl_seconds: float = DEFAULT_HOOK_TTL_SECONDS


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
    # The callback server's budget for Temporal per callback: past it the sender gets 503 + Retry-After, well
    # inside a typical sender's own timeout (the service mock's is 5 s), instead of a read timeout.
    callback_temporal_timeout_seconds: float = 3.0
    # Retry-After (seconds) on every 503: when to try again while Temporal is slow or down.
    callback_retry_after_seconds: int = 5
    # Callback server: senders that sign callback bodies the Standard Webhooks way, name -> their keys as
    # written (several during a rotation; any may match; the scheme parses them when the server starts).
    # A URL naming one of them demands a valid body signature.
    callback_webhook_senders: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    callback_webhook_tolerance_seconds: int = DEFAULT_WEBHOOK_TOLERANCE_SECONDS
    # Worker: the sender name put (signed) into every callback URL, when the services it calls sign bodies.
    callback_webhook_sender: str | None = None
    # Callback server: fixed endpoints `POST /hooks/{source}` (STAGEGATE_HOOK_SOURCES), by name.
    hook_sources: Mapping[str, HookSourceSettings] = field(default_factory=dict)
    callback_http: str = "auto"
    # Connection hygiene (app/callbacks/http_protocol.py): the whole request head within this many seconds of
    # the connection (or of a kept-alive connection's next request) starting, the body within this many of the
    # head; idle keep-alive connections closed after this many; connections past the cap answered 503.
    callback_header_timeout_seconds: float = 10.0
    callback_body_timeout_seconds: float = 15.0
    callback_keepalive_timeout_seconds: int = 5
    callback_max_connections: int = 1000
    # h11's cap on a request head (request line and headers); over it the parser answers 400.
    callback_max_header_bytes: int = 16 * 1024
    callback_loop: str = "auto"
    service_url: str = "http://127.0.0.1:8001"
    service_request_timeout_seconds: float = 60.0
    # First secret signs; all of them verify, so a new secret can be rolled in before an old one is dropped.
    # Empty when CALLBACK_SIGNING_SECRETS is unset outside development mode: nothing verifies, and the worker
    # and callback server refuse to start (app/runtime/signing_guard.py).
    signing_secrets: tuple[str, ...] = ()
    # STAGEGATE_DEV_MODE=1: without CALLBACK_SIGNING_SECRETS, sign with DEV_SIGNING_SECRET (loopback only).
    dev_mode: bool = False
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
    # Pipeline egress (app/pipeline/egress.py): hosts requests may go to (None: SERVICE_URL's host and port),
    # which hosts each `${env...}` variable may be sent to (None: every one to that default), private ranges.
    egress_hosts: tuple[str, ...] | None = None
    pipeline_env_hosts: Mapping[str, tuple[str, ...]] | None = None
    egress_refuse_private: bool = False
    tracing: TracingSettings = field(default_factory=TracingSettings)

    @property
    def using_dev_secret(self) -> bool:
        """True while the well-known development secret is still in use."""
        return DEV_SIGNING_SECRET in self.signing_secrets

    @property
    def signing_mode(self) -> SigningMode:
        """What signs callback URLs: `configured` secrets, the `development` secret, or `none` (refused)."""
        if not self.signing_secrets:
            return "none"
        return "development" if self.using_dev_secret else "configured"


N = TypeVar("N", int, float)


def _parsed(env: Mapping[str, str], name: str, default: N, parse: Callable[[str], N], what: str) -> N:
    """`name`'s value read by `parse`, `default` when unset or empty; SettingsError naming `what` it must be."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be {what}, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _parsed(env, name, default, int, "an integer")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _parsed(env, name, default, float, "a number")


def _positive(value: float, name: str) -> float:
    if not value > 0:  # also rejects nan
        raise SettingsError(f"{name} must be greater than 0, got {value!r}")
    return value


def webhook_senders_from(raw: str) -> dict[str, tuple[str, ...]]:
    """`CALLBACK_WEBHOOK_SENDERS`: `name=whsec_k1 whsec_k2;other=whsec_k3` (senders by `;`, keys by spaces)."""
    senders: dict[str, tuple[str, ...]] = {}
    for entry in (e.strip() for e in raw.split(";")):
        if not entry:
            continue
        name, sep, keys = entry.partition("=")
        name = name.strip()
        if not sep or not SENDER_NAME.fullmatch(name):
            raise SettingsError(
                "CALLBACK_WEBHOOK_SENDERS entries must be name=whsec_... with names of [A-Za-z0-9_-]; "
                f"got {name[:40]!r}"
            )
        parsed = tuple(keys.split())
        if not parsed:
            raise SettingsError(f"CALLBACK_WEBHOOK_SENDERS, sender {name!r}: no key")
        senders[name] = parsed
    return senders


def _hook_var(name: str, what: str) -> str:
    return f"{HOOK_OPTION_PREFIX}{name.upper().replace('-', '_')}_{what}"


def hook_sources_from(env: Mapping[str, str]) -> dict[str, HookSourceSettings]:
    """`STAGEGATE_HOOK_SOURCES=esign:stripe,gh:github` plus, per source NAME (upper-case, `-` as `_`):

    `STAGEGATE_HOOK_<NAME>_SECRET` (one secret, taken whole) and/or `_SECRETS` (space-separated, several
    during a rotation; any may match): at least one is required;
    `_KEY_PATH` (required: dotted path of the correlation key in the event), `_EVENT_ID_PATH` (dotted path of
    the event's ID, the dedupe key), `_TOLERANCE` (seconds, for schemes that sign a timestamp), `_TTL`
    (seconds an event nobody waits on yet is kept; default 24 h), and `_OPT_<OPTION>` for configurable
    schemes (e.g. `_OPT_HEADER=X-Acme-Signature` for `hmac`).
    """
    sources: dict[str, HookSourceSettings] = {}
    for entry in (e.strip() for e in env.get("STAGEGATE_HOOK_SOURCES", "").split(",")):
        if not entry:
            continue
        name, sep, scheme_name = entry.partition(":")
        name, scheme_name = name.strip(), scheme_name.strip()
        if not sep or not scheme_name or not HOOK_SOURCE_NAME.fullmatch(name):
            raise SettingsError(
                "STAGEGATE_HOOK_SOURCES entries must be name:scheme with lower-case names of [a-z0-9_-]; "
                f"got {entry[:40]!r}"
            )
        if name in sources:
            raise SettingsError(f"STAGEGATE_HOOK_SOURCES names {name!r} twice")
        secret_var, secrets_var = _hook_var(name, "SECRET"), _hook_var(name, "SECRETS")
        key_var = _hook_var(name, "KEY_PATH")
        # _SECRET is taken whole (a secret may hold spaces); _SECRETS adds space-separated ones (rotation).
        whole = env.get(secret_var, "")
        secrets = (*((whole,) if whole.strip() else ()), *env.get(secrets_var, "").split())
        allow_unsigned = _unsigned_opt_in(env, name, scheme_name, has_secrets=bool(secrets))
        if not secrets and not allow_unsigned:
            raise SettingsError(f"hook source {name!r}: neither {secret_var} nor {secrets_var} is set")
        key_path = env.get(key_var, "").strip()
        if not key_path:
            raise SettingsError(f"hook source {name!r}: {key_var} is not set (the correlation key's dotted path)")
        option_prefix = _hook_var(name, "OPT_")
        tolerance_var = _hook_var(name, "TOLERANCE")
        ttl_var = _hook_var(name, "TTL")
        sources[name] = HookSourceSettings(
            name=name,
            scheme=scheme_name,
            secrets=secrets,
            key_path=key_path,
            event_id_path=env.get(_hook_var(name, "EVENT_ID_PATH"), "").strip() or None,
            tolerance_seconds=int(
                _positive(_int(env, tolerance_var, DEFAULT_WEBHOOK_TOLERANCE_SECONDS), tolerance_var)
            ),
            options={
                var[len(option_prefix) :].lower(): value
                for var, value in env.items()
                if var.startswith(option_prefix) and value.strip()
            },
            allow_unsigned=allow_unsigned,
            ttl_seconds=_positive(_float(env, ttl_var, DEFAULT_HOOK_TTL_SECONDS), ttl_var),
        )
    return sources


def _unsigned_opt_in(env: Mapping[str, str], name: str, scheme_name: str, *, has_secrets: bool) -> bool:
    """`_ALLOW_UNSIGNED=1`: required by scheme `none`, refused with any other scheme or with secrets."""
    var = _hook_var(name, "ALLOW_UNSIGNED")
    opted_in = _bool(env, var, False)
    if scheme_name != UNSIGNED_HOOK_SCHEME:
        if opted_in:
            raise SettingsError(f"hook source {name!r}: {var} applies only to the scheme {UNSIGNED_HOOK_SCHEME!r}")
        return False
    if not opted_in:
        raise SettingsError(
            f"hook source {name!r}: the scheme {UNSIGNED_HOOK_SCHEME!r} takes events nobody signed; "
            f"set {var}=1 to allow that on purpose"
        )
    if has_secrets:
        raise SettingsError(f"hook source {name!r}: the scheme {UNSIGNED_HOOK_SCHEME!r} takes no secret")
    return True


def _sender_name(env: Mapping[str, str]) -> str | None:
    raw = env.get("CALLBACK_WEBHOOK_SENDER", "").strip()
    if raw and not SENDER_NAME.fullmatch(raw):
        raise SettingsError(f"CALLBACK_WEBHOOK_SENDER must be 1 to 64 of [A-Za-z0-9_-], got {raw[:40]!r}")
    return raw or None


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


def signing_secrets_from(env: Mapping[str, str], *, dev_mode: bool) -> tuple[str, ...]:
    """`CALLBACK_SIGNING_SECRETS` (comma-separated, each 32+ bytes); unset: the development secret in dev mode only."""
    secrets = tuple(s.strip() for s in env.get("CALLBACK_SIGNING_SECRETS", "").split(",") if s.strip())
    for number, secret in enumerate(secrets, start=1):
        size = len(secret.encode())
        if size < MIN_SIGNING_SECRET_BYTES:
            # The value itself is never echoed: only its position and length.
            raise SettingsError(
                f"CALLBACK_SIGNING_SECRETS: secret #{number} is {size} bytes; each must be at least "
                f"{MIN_SIGNING_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
            )
    if secrets:
        return secrets
    return (DEV_SIGNING_SECRET,) if dev_mode else ()


def _entries(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """A comma-separated list; None when the variable is unset or blank (the caller's default applies)."""
    raw = env.get(name, "")
    if not raw.strip():
        return None
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def env_hosts_from(raw: str) -> dict[str, tuple[str, ...]] | None:
    """`STAGEGATE_PIPELINE_ENV_HOSTS`: `NAME=host host2;PREFIX*=host` (bindings by `;`, hosts by spaces)."""
    if not raw.strip():
        return None
    bindings: dict[str, tuple[str, ...]] = {}
    for entry in (e.strip() for e in raw.split(";")):
        if not entry:
            continue
        name, sep, hosts = entry.partition("=")
        name = name.strip()
        if not sep or not (name == "*" or ENV_NAME_PATTERN.fullmatch(name)):
            raise SettingsError(
                f"STAGEGATE_PIPELINE_ENV_HOSTS entries must be NAME=host ... (NAME, PREFIX* or *); got {entry[:60]!r}"
            )
        bindings[name] = tuple(hosts.split())
    return bindings


ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")


def _otlp_headers(raw: str, name: str) -> dict[str, str]:
    """`key=value,key2=value2` with URL-encoded values, as the OpenTelemetry specification writes them."""
    headers: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{name} must be comma-separated key=value pairs, got {item!r}")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def load_tracing_settings(env: Mapping[str, str]) -> TracingSettings:
    """Tracing from the standard OTEL_* variables: off unless OTEL_TRACES_EXPORTER or an OTLP endpoint is set.

    OTEL_TRACES_EXPORTER: comma-separated `otlp`, `console` or `none`; unset means `otlp` when
    OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, else off. OTEL_SDK_DISABLED=true turns everything off.
    Only OTLP over HTTP (protobuf) is built in.
    """
    if _bool(env, "OTEL_SDK_DISABLED", False):
        return TracingSettings()
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    # The generic endpoint is a base URL (the signal's path is appended); the per-signal one is used as given.
    endpoint = traces_endpoint or (f"{base_endpoint.rstrip('/')}/v1/traces" if base_endpoint else "")
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names:
        names = ["otlp"] if endpoint else []
    exporters: list[TraceExporter] = []
    for name in names:
        if name == "none":
            continue
        known = next((e for e in _TRACE_EXPORTERS if e == name), None)
        if known is None:
            raise SettingsError(f"OTEL_TRACES_EXPORTER must be otlp, console or none, got {name!r}")
        if known not in exporters:
            exporters.append(known)
    for var in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(var, "").strip()
        if "otlp" in exporters and protocol and protocol != "http/protobuf":
            raise SettingsError(f"{var}: only http/protobuf is supported, got {protocol!r}")
    headers_var = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
    if not env.get(headers_var, "").strip():
        headers_var = "OTEL_EXPORTER_OTLP_HEADERS"
    return TracingSettings(
        exporters=tuple(exporters),
        service_name=env.get("OTEL_SERVICE_NAME", "").strip() or None,
        otlp_endpoint=endpoint or DEFAULT_OTLP_TRACES_ENDPOINT,
        otlp_headers=_otlp_headers(env.get(headers_var, ""), headers_var),
    )


def load_temporal_settings(env: Mapping[str, str]) -> TemporalSettings:
    """Temporal's own env config (TEMPORAL_ADDRESS, _NAMESPACE, _API_KEY, TLS, profiles) with a localhost default."""
    profile = ClientConfigProfile.load(override_env_vars=dict(env))
    connect = dict(profile.to_client_connect_config())
    address = str(connect.pop("target_host", None) or "localhost:7233")
    namespace = str(connect.pop("namespace", None) or "default")
    # The UI URL follows TEMPORAL_UI_PORT (the dev stack's knob) unless given whole.
    ui_port = _int(env, "TEMPORAL_UI_PORT", 8233)
    ui_url = env.get("TEMPORAL_UI_URL", f"http://localhost:{ui_port}").rstrip("/")
    return TemporalSettings(address=address, namespace=namespace, connect_kwargs=connect, ui_url=ui_url)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment once; every entry point calls this and passes the result down."""
    env = os.environ if env is None else env
    callback_port = _int(env, "CALLBACK_PORT", 8000)
    dev_mode = _bool(env, "STAGEGATE_DEV_MODE", False)
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
        callback_temporal_timeout_seconds=_positive(
            _float(env, "CALLBACK_TEMPORAL_TIMEOUT", 3.0), "CALLBACK_TEMPORAL_TIMEOUT"
        ),
        callback_retry_after_seconds=int(_positive(_int(env, "CALLBACK_RETRY_AFTER", 5), "CALLBACK_RETRY_AFTER")),
        callback_webhook_senders=webhook_senders_from(env.get("CALLBACK_WEBHOOK_SENDERS", "")),
        callback_webhook_tolerance_seconds=int(
            _positive(
                _int(env, "CALLBACK_WEBHOOK_TOLERANCE", DEFAULT_WEBHOOK_TOLERANCE_SECONDS), "CALLBACK_WEBHOOK_TOLERANCE"
            )
        ),
        callback_webhook_sender=_sender_name(env),
        hook_sources=hook_sources_from(env),
        # Like the callback URL, the service URL follows its port (SERVICE_PORT, as `just up` uses) unless given whole.
        service_url=env.get("SERVICE_URL", f"http://127.0.0.1:{_int(env, 'SERVICE_PORT', 8001)}").rstrip("/"),
        callback_http=_choice(env, "CALLBACK_HTTP", CALLBACK_HTTP_CHOICES),
        callback_loop=_choice(env, "CALLBACK_LOOP", CALLBACK_LOOP_CHOICES),
        callback_header_timeout_seconds=_positive(
            _float(env, "CALLBACK_HEADER_TIMEOUT", 10.0), "CALLBACK_HEADER_TIMEOUT"
        ),
        callback_body_timeout_seconds=_positive(_float(env, "CALLBACK_BODY_TIMEOUT", 15.0), "CALLBACK_BODY_TIMEOUT"),
        callback_keepalive_timeout_seconds=int(
            _positive(_int(env, "CALLBACK_KEEPALIVE_TIMEOUT", 5), "CALLBACK_KEEPALIVE_TIMEOUT")
        ),
        callback_max_connections=int(
            _positive(_int(env, "CALLBACK_MAX_CONNECTIONS", 1000), "CALLBACK_MAX_CONNECTIONS")
        ),
        callback_max_header_bytes=int(
            _positive(_int(env, "CALLBACK_MAX_HEADER_BYTES", 16 * 1024), "CALLBACK_MAX_HEADER_BYTES")
        ),
        service_request_timeout_seconds=_float(env, "SERVICE_REQUEST_TIMEOUT", 60.0),
        signing_secrets=signing_secrets_from(env, dev_mode=dev_mode),
        dev_mode=dev_mode,
        callback_url_grace_seconds=_int(env, "CALLBACK_URL_GRACE_SECONDS", 3600),
        worker_metrics_bind=env.get("WORKER_METRICS_BIND", f"127.0.0.1:{_int(env, 'WORKER_METRICS_PORT', 9464)}"),
        worker_max_concurrent_activities=_int(env, "WORKER_MAX_CONCURRENT_ACTIVITIES", 200),
        worker_max_cached_workflows=_int(env, "WORKER_MAX_CACHED_WORKFLOWS", 1000),
        worker_fail_on_nondeterminism=_bool(env, "WORKER_FAIL_ON_NONDETERMINISM", False),
        log_format=log_format,  # type: ignore[arg-type]  # checked just above
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        pipeline_env=pipeline_env_from(env),
        egress_hosts=_entries(env, "STAGEGATE_EGRESS_HOSTS"),
        pipeline_env_hosts=env_hosts_from(env.get("STAGEGATE_PIPELINE_ENV_HOSTS", "")),
        egress_refuse_private=_bool(env, "STAGEGATE_EGRESS_REFUSE_PRIVATE", False),
        tracing=load_tracing_settings(env),
    )
