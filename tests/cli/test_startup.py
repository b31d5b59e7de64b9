"""`cli --help` and bad options answer without importing the Temporal SDK (or Rich, httpx, pydantic, YAML parsers);
`cli start --no-wait` imports the SDK and the demo's input types, and nothing it does not use.

Every `cli` process pays for what it imports, and 50 of them started at once (a shell loop, a cron burst) pay it
50 times on the same cores: only a command that talks to Temporal may load the SDK.
"""

from __future__ import annotations

import json

import pytest

from tests.cli.runner import run_cli
from tests.stack import Stack, base_env

# Every test runs the `cli` console script as a subprocess.
pytestmark = pytest.mark.integration

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


# What `start --no-wait` never uses: Rich and the report/status code (only a followed run is drawn), the pipeline
# types (only `--pipeline`), the commands' other operations, and http.client (the preflight speaks HTTP/1.1 on
# asyncio streams; http.client brings the whole `email` package). Top-level packages and exact modules.
START_NEVER = ("rich", "httpx", "pydantic", "ruamel", "jsonschema", "email", "structlog", "opentelemetry")
START_NEVER_MODULES = (
    "http.client",
    "app.pipeline.types",
    "app.gate.rules",
    # The callback shapes and the activity's ticket: only the worker and the callback server read them.
    "app.gate.shapes",
    "app.gate.ticket",
    "cli.operations",
    "cli.outcomes",
    "cli.render",
)


@pytest.mark.parametrize("as_json", [True, False])
def test_start_no_wait_imports_only_what_it_uses(stack: Stack, as_json: bool) -> None:
    args = ["start", "-m", "token", "-n", "1", "-ttr", "0", "-ttc", "0", "--no-wait"] + (["--json"] if as_json else [])
    done = run_cli(*args, env=stack.env | {"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    if as_json:
        assert json.loads(done.stdout)["workflow_id"].startswith("stagegate-token-")
    else:
        assert done.stdout.startswith("started stagegate-token-")
    imported = _imported(done.stderr)
    assert {"temporalio.client", "cli.starting"} <= imported, "the start path was not taken: the check would be vacuous"
    unused = sorted({m for m in imported if m.split(".")[0] in START_NEVER} | (imported & set(START_NEVER_MODULES)))
    assert not unused, f"`cli {' '.join(args)}` imported {unused}"
