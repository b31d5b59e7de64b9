"""The built wheel, installed into a fresh venv outside the checkout, runs the README's own-workflow example.

Real parts only: `uv build --wheel`, `uv venv` + `uv pip install` (dependencies pinned to uv.lock, so this test
does not change with every upstream release), the session's Temporal dev server, and the installed
`stagegate-callback-server` and `stagegate-service-mock` console scripts as subprocesses. The README's program
(a user's two-stage workflow written with public names only) runs on the venv's Python, its cwd outside the
checkout and no PYTHONPATH, so nothing but the installed package can answer `from app import ...`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.pages import readme_program
from tests.ports import port_for
from tests.stack import ROOT, ManagedProcess, base_env, wait_http_ok

pytestmark = pytest.mark.integration  # builds, installs and runs things as subprocesses

SHIPPED = {"app", "cli", "service_mock"}
CONSOLE_SCRIPTS = {
    "stagegate": "cli.main:main",
    "cli": "cli.main:main",
    "stagegate-worker": "app.worker:main",
    "stagegate-callback-server": "app.callback_server:main",
    "stagegate-service-mock": "service_mock.__main__:main",
}
RUN_TIMEOUT = 180.0


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


def _clean_env(temporal_address: str) -> dict[str, str]:
    """What a user's shell would have: our server and secret, and nothing that points back into the checkout."""
    env = base_env(temporal_address)
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
        env=_clean_env("127.0.0.1:1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve().is_relative_to(installed.venv.resolve()), done.stdout
    cli = subprocess.run(
        [str(installed.bin("stagegate")), "--help"],
        cwd=installed.outside,
        env=_clean_env("127.0.0.1:1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr  # the CLI imports only `app`: it works from the wheel alone


@dataclass(frozen=True)
class Services:
    """The installed callback server and service mock, and the environment a user's program needs to reach them."""

    env: dict[str, str]


def _start(installed: Installed, script: str, env: dict[str, str], log_dir: Path) -> ManagedProcess:
    """An installed console script as a subprocess in its own process group, run from outside the checkout."""
    log_path = log_dir / f"{script}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [str(installed.bin(script))],
            cwd=installed.outside,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # stopped by pid, with anything it started
        )
    return ManagedProcess(name=script, popen=popen, log_path=log_path)


@pytest.fixture
def services(installed: Installed, temporal_address: str, tmp_path: Path) -> Iterator[Services]:
    """`stagegate-callback-server` and `stagegate-service-mock` from the venv, on the port variables' ports."""
    callback_port, service_port = port_for("CALLBACK_PORT"), port_for("SERVICE_PORT")
    env = _clean_env(temporal_address) | {
        "CALLBACK_PORT": str(callback_port),
        "CALLBACK_BASE_URL": f"http://127.0.0.1:{callback_port}",
        "SERVICE_PORT": str(service_port),
        "SERVICE_URL": f"http://127.0.0.1:{service_port}",
    }
    started: list[ManagedProcess] = []
    try:
        for script, health in [
            ("stagegate-service-mock", f"{env['SERVICE_URL']}/healthz"),
            ("stagegate-callback-server", f"{env['CALLBACK_BASE_URL']}/healthz"),
        ]:
            started.append(_start(installed, script, env, tmp_path))
            wait_http_ok(started[-1], health)
        yield Services(env=env)
    finally:
        for proc in reversed(started):
            proc.stop()


def test_the_readme_workflow_runs_from_the_installed_wheel_in_every_mode(
    installed: Installed, services: Services
) -> None:
    program = installed.outside / "onboarding.py"  # the user's own file, beside nothing of ours
    program.write_text(readme_program().code, encoding="utf-8")
    done = subprocess.run(
        [str(installed.bin("python")), str(program)],
        cwd=installed.outside,
        env=services.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"
    assert done.stdout.splitlines()[:3] == [
        "signal completed completed",
        "token completed completed",
        "update completed completed",
    ], done.stdout
