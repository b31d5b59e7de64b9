"""No secret from the source signs or verifies anything outside development mode on loopback.

The refusals are shown on real `python -m` processes: exit code 1 and exactly one line on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.errors import SettingsError
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.types import Mode
from app.runtime.config import DEV_SIGNING_SECRET, load_settings
from app.runtime.signing_guard import callback_server_endpoints, check_signing, is_loopback, worker_endpoints
from tests.stack import ROOT, free_port, start_process, wait_http_ok

REAL_SECRET = "real-secret-" + "0123456789abcdef" * 2
START_TIMEOUT_S = 60.0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),  # the point: every interface is not loopback
        ("::", False),
        ("10.0.0.5", False),
        ("callback-server", False),
        ("localhost.evil.example", False),
        ("", False),
    ],
)
def test_loopback_means_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_configured_secrets_run_anywhere() -> None:
    settings = load_settings({"CALLBACK_SIGNING_SECRETS": REAL_SECRET, "CALLBACK_HOST": "0.0.0.0"})
    check_signing(settings, callback_server_endpoints(settings))


def test_no_secret_and_no_dev_mode_is_refused_even_on_loopback() -> None:
    settings = load_settings({})
    with pytest.raises(SettingsError, match="CALLBACK_SIGNING_SECRETS is not set"):
        check_signing(settings, callback_server_endpoints(settings))


def test_dev_mode_on_loopback_runs() -> None:
    settings = load_settings({"STAGEGATE_DEV_MODE": "1"})
    check_signing(settings, callback_server_endpoints(settings))
    check_signing(settings, worker_endpoints(settings))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CALLBACK_HOST": "0.0.0.0"}, "CALLBACK_HOST=0.0.0.0"),
        ({"CALLBACK_HOST": "::"}, "CALLBACK_HOST=::"),
    ],
)
def test_dev_mode_off_loopback_is_refused_by_the_callback_server(env: dict[str, str], named: str) -> None:
    settings = load_settings({"STAGEGATE_DEV_MODE": "1", **env})
    with pytest.raises(SettingsError, match="loopback only") as caught:
        check_signing(settings, callback_server_endpoints(settings))
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WORKER_METRICS_BIND": "0.0.0.0:9464"}, "WORKER_METRICS_BIND=0.0.0.0"),
        ({"CALLBACK_BASE_URL": "https://callbacks.example.com"}, "CALLBACK_BASE_URL=callbacks.example.com"),
    ],
)
def test_dev_mode_off_loopback_is_refused_by_the_worker(env: dict[str, str], named: str) -> None:
    settings = load_settings({"STAGEGATE_DEV_MODE": "1", **env})
    with pytest.raises(SettingsError, match="loopback only") as caught:
        check_signing(settings, worker_endpoints(settings))
    assert named in str(caught.value)


# --- Real processes ------------------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that configures stagegate, plus `extra`."""
    prefixes = ("TEMPORAL_", "CALLBACK_", "SERVICE_", "STAGEGATE_", "WORKER_", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(PYTHONUNBUFFERED="1", LOG_FORMAT="json", **extra)
    return env


def _refusal(module: str, env: dict[str, str]) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", module],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    return done.returncode, done.stderr.splitlines()


ENTRY_POINTS = [("app.callback_server", "stagegate callback server: "), ("app.worker", "stagegate worker: ")]


@pytest.mark.integration  # a real `python -m` process
@pytest.mark.parametrize(("module", "prefix"), ENTRY_POINTS)
def test_process_without_a_secret_refuses_to_start(module: str, prefix: str) -> None:
    code, lines = _refusal(module, _env(TEMPORAL_ADDRESS="127.0.0.1:1"))
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix + "CALLBACK_SIGNING_SECRETS is not set"), lines


@pytest.mark.integration  # a real `python -m` process
@pytest.mark.parametrize(("module", "prefix"), ENTRY_POINTS)
def test_process_with_a_short_secret_refuses_to_start(module: str, prefix: str) -> None:
    code, lines = _refusal(module, _env(CALLBACK_SIGNING_SECRETS="too-short", TEMPORAL_ADDRESS="127.0.0.1:1"))
    assert code == 1
    assert lines == [prefix + "CALLBACK_SIGNING_SECRETS: secret #1 is 9 bytes; each must be at least 32 "
                     "(e.g. `openssl rand -hex 32`)"]  # fmt: skip


@pytest.mark.integration  # a real `python -m` process
@pytest.mark.parametrize(
    ("module", "prefix", "exposed"),
    [
        ("app.callback_server", "stagegate callback server: ", {"CALLBACK_HOST": "0.0.0.0"}),
        ("app.worker", "stagegate worker: ", {"WORKER_METRICS_BIND": "0.0.0.0:1"}),
        ("app.worker", "stagegate worker: ", {"CALLBACK_BASE_URL": "http://203.0.113.7:8000"}),
    ],
)
def test_dev_mode_off_loopback_refuses_to_start(module: str, prefix: str, exposed: dict[str, str]) -> None:
    code, lines = _refusal(module, _env(STAGEGATE_DEV_MODE="1", TEMPORAL_ADDRESS="127.0.0.1:1", **exposed))
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix + "STAGEGATE_DEV_MODE signs with a secret written in the source"), lines


def _forged_url(base: str) -> str:
    """A callback URL signed with the development secret, as anyone who read the repository could sign it."""
    target = CallbackTarget(Mode.SIGNAL, "forged-run", "approve", 1, int(time.time()) + 600)
    return build_callback_url(base, DEV_SIGNING_SECRET, target)


@pytest.mark.integration  # a real `python -m` process
def test_callback_server_with_a_real_secret_refuses_dev_signed_urls(tmp_path: Path) -> None:
    port = free_port()
    env = _env(CALLBACK_SIGNING_SECRETS=REAL_SECRET, CALLBACK_PORT=str(port), TEMPORAL_ADDRESS="127.0.0.1:1")
    proc = start_process("callback_server", ["app.callback_server"], env=env, log_dir=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(proc, f"{base}/healthz", timeout=START_TIMEOUT_S)
        assert httpx.get(f"{base}/readyz", timeout=10).json()["signing"] == "configured"
        forged = httpx.post(_forged_url(base), json={"status": "completed"}, timeout=10)
        assert forged.status_code == 403, forged.text
        assert forged.json()["error"] == "bad_signature"
    finally:
        proc.stop()


@pytest.mark.integration  # a real `python -m` process
def test_dev_mode_on_loopback_starts_and_says_so(tmp_path: Path) -> None:
    port = free_port()
    env = _env(STAGEGATE_DEV_MODE="1", CALLBACK_PORT=str(port), TEMPORAL_ADDRESS="127.0.0.1:1")
    proc = start_process("callback_server", ["app.callback_server"], env=env, log_dir=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(proc, f"{base}/healthz", timeout=START_TIMEOUT_S)
        # Temporal is unreachable here (503), and the answer still says what verifies URLs.
        assert httpx.get(f"{base}/readyz", timeout=10).json()["signing"] == "development"
    finally:
        proc.stop()
    assert '"signing": "development"' in proc.log_path.read_text()
