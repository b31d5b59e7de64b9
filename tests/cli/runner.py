"""Run the `cli` console script as a real subprocess (shared by the CLI tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.stack import ROOT

CLI = str(Path(sys.executable).parent / "cli")


def run_cli(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run `cli ARGS...` from the project root; bounded by `timeout` seconds."""
    return subprocess.run(  # our own console script
        [CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
