"""`scripts/cluster/stack.py` for real (marker `cluster`, not in `just test`: it runs initdb and five servers).

A state dir of its own and ports of its own: up, one demo run in each mode through the CLI, ps, down; after
down none of the recorded processes lives, and a second up reuses the database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cluster.settings import ROOT
from scripts.stack.processes import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def cluster_env() -> Iterator[dict[str, str]]:
    # Under the project, not /tmp/pytest-of-*: the postgres user must be able to reach the data directory.
    state = ROOT / ".state" / f"cluster-test-{uuid.uuid4().hex[:8]}"
    # A frontend port whose shifted neighbours (membership -300, HTTP +10) are in range; collisions are unlikely.
    frontend = 20000 + free_port() % 20000
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "CALLBACK_", "SERVICE_", "CLUSTER_"))},
        "TEMPORAL_ADDRESS": f"127.0.0.1:{frontend}",
        "CLUSTER_STATE_DIR": str(state),
        "CLUSTER_PG_PORT": str(free_port()),
        "CALLBACK_PORT": str(free_port()),
        "SERVICE_PORT": str(free_port()),
        "WORKER_METRICS_PORT": str(free_port()),
        "CLUSTER_HISTORY_SHARDS": "4",
    }
    try:
        yield env
    finally:
        _stack(env, "down", check=False)
        shutil.rmtree(state, ignore_errors=True)


def _stack(env: dict[str, str], command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # our own script
        [sys.executable, "-m", "scripts.cluster.stack", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if check and result.returncode != 0:
        pytest.fail(f"cluster {command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _pids(env: dict[str, str]) -> dict[str, int]:
    pid_dir = Path(env["CLUSTER_STATE_DIR"]) / "pids"
    return {p.stem: int(p.read_text()) for p in pid_dir.glob("*.pid")}


def test_up_run_down_leaves_nothing(cluster_env: dict[str, str]) -> None:
    _stack(cluster_env, "up")
    pids = _pids(cluster_env)
    expected = {"postgres", "temporal_history", "temporal_matching", "temporal_frontend", "temporal_worker"}
    assert expected | {"worker", "callback_server", "service_mock"} == set(pids)
    assert "healthy" in _stack(cluster_env, "ps").stdout

    cli = Path(sys.executable).parent / "cli"
    for mode in ("signal", "token", "update"):
        run = subprocess.run(
            [str(cli), "start", "--mode", mode, "-n", "2", "-ttr", "0", "-ttc", "0.2", "--json"],
            cwd=ROOT,
            env=cluster_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout.strip().splitlines()[-1])["status"] == "completed", run.stdout

    down = _stack(cluster_env, "down")
    assert "verified" in down.stdout
    assert [name for name, pid in pids.items() if _alive(pid)] == []

    _stack(cluster_env, "up")  # the second start reuses the database and the schema
    _stack(cluster_env, "down")
    assert [name for name, pid in _pids(cluster_env).items() if _alive(pid)] == []
