"""The built wheel, installed into a fresh venv outside the checkout, runs a user's own two-stage workflow.

Real parts only: `uv build --wheel`, `uv venv` + `uv pip install` (dependencies pinned to uv.lock, so this test
does not change with every upstream release), the session's Temporal dev server, the installed
`stagegate-callback-server` console script as a subprocess, the user's workflow (`user_workflow.py`, public
names only) run by the venv's Python with its cwd outside the checkout and no PYTHONPATH, and a small KYC /
e-signature service on loopback HTTP that calls back.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.processes import ROOT, ManagedProcess, loopback_env, wait_http_ok
from tests.asgi import serving
from tests.gate.kyc_esign_service import ServiceLog, create_service
from tests.ports import port_for

pytestmark = pytest.mark.integration  # builds, installs and runs things as subprocesses

USER_WORKFLOW = Path(__file__).with_name("user_workflow.py")
SHIPPED = {"app", "cli", "service_mock"}
CONSOLE_SCRIPTS = {
    "stagegate": "cli.main:main",
    "cli": "cli.main:main",
    "stagegate-worker": "app.worker:main",
    "stagegate-callback-server": "app.callback_server:main",
    "stagegate-service-mock": "service_mock.__main__:main",
}
RUN_TIMEOUT = 120.0


def _uv(*args: str, cwd: Path, timeout: float = 300) -> str:
    """Run uv with nothing of this checkout's environment (no active venv, no lock flags from CI)."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH"
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "UV_LOCKED", "UV_FROZEN", "UV_PROJECT_ENVIRONMENT")
    env = {k: v for k, v in os.environ.items() if k not in drop} | {"UV_PYTHON_PREFERENCE": "only-system"}
    done = subprocess.run([uv, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"uv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Installed:
    """A fresh venv outside the checkout with only the wheel (and its pinned dependencies) in it."""

    wheel: Path
    venv: Path
    outside: Path  # an empty folder to run things from

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT), "the venv must live outside the checkout"
    dist, venv, outside = base / "dist", base / "venv", base / "outside"
    outside.mkdir()
    _uv("build", "--wheel", "--out-dir", str(dist), str(ROOT), cwd=outside)
    (wheel,) = dist.glob("*.whl")
    pins = base / "pins.txt"
    _uv("export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "-o", str(pins), cwd=ROOT)
    _uv("venv", "--python", "3.11", str(venv), cwd=outside)
    _uv("pip", "install", "--python", str(venv / "bin" / "python"), "-c", str(pins), str(wheel), cwd=outside)
    return Installed(wheel=wheel, venv=venv, outside=outside)


def _clean_env(temporal_address: str, secret: str) -> dict[str, str]:
    """What a user's shell would have: our server and secret, and nothing that points back into the checkout."""
    env = loopback_env(temporal_address, signing_secret=secret)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def test_the_wheel_holds_the_packages_their_py_typed_and_the_console_scripts(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts_section = whl.read(entry_points).decode().partition("[console_scripts]")[2]
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == SHIPPED, f"only the shipped packages belong in the wheel, found {sorted(tops)}"
    for package in SHIPPED:
        assert f"{package}/py.typed" in names
    declared: dict[str, str] = {}
    for line in scripts_section.splitlines():
        name, eq, target = line.partition("=")
        if eq:
            declared[name.strip()] = target.strip()
    assert declared == CONSOLE_SCRIPTS
    for script in CONSOLE_SCRIPTS:
        assert installed.bin(script).is_file(), script


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.bin("python")), "-c", "import app, cli, service_mock; print(app.__file__)"],
        cwd=installed.outside,
        env=_clean_env("127.0.0.1:1", "unused"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve().is_relative_to(installed.venv.resolve()), done.stdout


@pytest.fixture
def callback_server(installed: Installed, temporal_address: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The installed `stagegate-callback-server` console script, run from outside the checkout; (URL, secret)."""
    secret = "wheel-test-" + uuid.uuid4().hex
    port = port_for("CALLBACK_PORT")
    env = _clean_env(temporal_address, secret) | {"CALLBACK_PORT": str(port), "CALLBACK_HOST": "127.0.0.1"}
    log_path = tmp_path / "callback_server.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [str(installed.bin("stagegate-callback-server"))],
            cwd=installed.outside,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped by pid with everything it started
        )
    proc = ManagedProcess(name="callback_server", popen=popen, log_path=log_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(proc, f"{url}/healthz")
        yield url, secret
    finally:
        proc.stop()


async def test_a_users_two_stage_workflow_runs_from_the_installed_wheel_in_every_mode(
    installed: Installed, temporal_address: str, callback_server: tuple[str, str], tmp_path: Path
) -> None:
    callback_url, secret = callback_server
    script = installed.outside / USER_WORKFLOW.name  # the user's own file, beside nothing of ours
    shutil.copy(USER_WORKFLOW, script)
    service = ServiceLog()
    async with serving(create_service(service), port=port_for("SERVICE_PORT")) as service_url:
        env = _clean_env(temporal_address, secret) | {"CALLBACK_BASE_URL": callback_url, "SERVICE_URL": service_url}
        proc = await asyncio.create_subprocess_exec(
            str(installed.bin("python")),
            str(script),
            "signal",
            "token",
            "update",
            cwd=installed.outside,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()
    runs = [json.loads(line) for line in out.decode().splitlines()]
    assert runs == [
        {"mode": mode, "verified_name": "Ada Lovelace", "signed_by": "Ada Lovelace"}
        for mode in ("signal", "token", "update")
    ]
    # Both stages of every run were asked for over HTTP and answered through the callback server.
    assert [path for path, _body, _key in service.requests] == ["kyc", "esign"] * 3
    async with asyncio.timeout(10):
        while len(service.callback_statuses) < 6:
            await asyncio.sleep(0.05)
    assert service.callback_statuses == [202, 202, 202, 202, 200, 200]
