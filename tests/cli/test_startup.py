"""`cli --help` and bad options answer without importing the Temporal SDK (or Rich, httpx, pydantic, YAML parsers).

Every `cli` process pays for what it imports, and 50 of them started at once (a shell loop, a cron burst) pay it
50 times on the same cores: only a command that talks to Temporal may load the SDK.
"""

from __future__ import annotations

import pytest

from tests.cli.runner import run_cli
from tests.stack import base_env

HEAVY = ("temporalio", "rich", "httpx", "pydantic", "ruamel", "jsonschema", "asyncio")


def _imported(stderr: str) -> set[str]:
    """Module names from `-X importtime` lines (`import time: self | cumulative | name`)."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["start", "--help"], 0),
        (["pipeline", "--help"], 0),
        (["start", "--mode", "carrier-pigeon"], 2),
        (["start", "--stages", "many"], 2),
        (["start", "--action", "explode"], 2),
        (["signal", "wf", "--stage", "1", "--result", "[1]"], 2),
        (["start", "--bogus"], 2),
    ],
)
def test_help_and_bad_options_import_nothing_heavy(args: list[str], code: int) -> None:
    # Nothing here reaches Temporal: any address will do.
    done = run_cli(*args, env=base_env("127.0.0.1:7233") | {"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == code, done.stderr[-2000:]
    imported = _imported(done.stderr)
    assert "cli.main" in imported, "no -X importtime output: the check would pass vacuously"
    heavy = sorted({m.split(".")[0] for m in imported} & set(HEAVY))
    assert not heavy, f"`cli {' '.join(args)}` imported {heavy}"
