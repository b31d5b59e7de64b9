"""The `cli` console script as a real subprocess: one-line errors, exit codes, and runs against the stack."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.cli.runner import run_cli
from tests.stack import Stack, base_env, free_port


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


def test_start_with_temporal_down_is_one_line(temporal_address: str) -> None:
    env = base_env(temporal_address) | {"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    started = time.monotonic()
    done = run_cli("start", "--mode", "token", "--no-preflight", env=env)
    assert done.returncode == 1
    assert "cannot reach Temporal at 127.0.0.1:" in _one_line_error(done)
    assert time.monotonic() - started < 60


def test_start_with_service_down_is_one_line(temporal_address: str) -> None:
    env = base_env(temporal_address) | {"SERVICE_URL": f"http://127.0.0.1:{free_port()}"}
    done = run_cli("start", env=env)
    assert done.returncode == 1
    assert "the service at http://127.0.0.1:" in _one_line_error(done)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["start", "--action", "explode"], "unknown action 'explode'"),
        (["start", "--stages", "2", "--action", "complete,fail,complete"], "3 actions for 2 stages"),
        (["start", "--mode", "carrier-pigeon"], "--mode must be one of signal | token | update"),
        (["start", "--stages", "many"], "Invalid value for '--stages'"),
        (["signal", "wf", "--stage", "1", "--result", "[1]"], "--result must be a JSON object"),
        (["start", "--bogus"], "No such option"),
        (["list", "--waiting-longer", "soon"], "--waiting-longer takes a positive duration"),
    ],
)
def test_bad_options_are_one_line_exit_2(temporal_address: str, args: list[str], needle: str) -> None:
    done = run_cli(*args, env=base_env(temporal_address))
    assert done.returncode == 2, done
    assert needle in _one_line_error(done)


def test_start_wait_json_and_exit_codes(stack: Stack) -> None:
    ok = run_cli("start", "-m", "token", "-n", "2", "-ttr", "0.1", "-ttc", "0.2", "--json", env=stack.env)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["status"] == "completed"
    assert report["mode"] == "token"
    assert [s["outcome"] for s in report["stages"]] == ["completed", "completed"]
    assert report["ui_url"].endswith(f"/workflows/{report['workflow_id']}")

    failed = run_cli("start", "-n", "2", "-a", "complete,fail", "-ttr", "0.1", "-ttc", "0.2", "--json", env=stack.env)
    assert failed.returncode == 3, failed.stderr
    report = json.loads(failed.stdout)
    assert (report["status"], report["error_type"]) == ("failed", "StageFailed")
    assert [s["outcome"] for s in report["stages"]] == ["completed", "failed"]


def test_people_output_with_wait(stack: Stack) -> None:
    done = run_cli("start", "-n", "1", "-ttr", "0.1", "-ttc", "0.2", "--activity-action", "heartbeat", env=stack.env)
    assert done.returncode == 0, done.stderr
    assert "Web UI: http://" in done.stdout
    assert "completed" in done.stdout


def test_list_status_signal_result(stack: Stack) -> None:
    started = run_cli("start", "-n", "2", "-a", "ignore", "--stage-timeout", "60", "--no-wait", "--json", env=stack.env)
    assert started.returncode == 0, started.stderr
    wf = json.loads(started.stdout)["workflow_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = json.loads(run_cli("list", "--stage", "1", "--json", env=stack.env).stdout)
        if any(row["workflow_id"] == wf for row in listed):
            break
        time.sleep(0.5)
    else:
        pytest.fail("run never listed at stage 1")
    status = json.loads(run_cli("status", wf, "--json", env=stack.env).stdout)
    assert status["status"]["current_stage"] == 1
    assert status["execution_status"] == "running"
    for stage in ("1", "2"):
        sent = run_cli("signal", wf, "--stage", stage, "--result", '{"by": "hand"}', env=stack.env)
        assert sent.returncode == 0, sent.stderr
    result = run_cli("result", wf, "--json", "--timeout", "30", env=stack.env)
    assert result.returncode == 0, result.stderr
    assert [s["result"] for s in json.loads(result.stdout)["stages"]] == [{"by": "hand"}] * 2


def test_unknown_workflow_is_one_line(stack: Stack) -> None:
    done = run_cli("status", "no-such-workflow-id", env=stack.env)
    assert done.returncode == 1
    assert "not found" in _one_line_error(done)


def _listed_until(stack: Stack, wf: str, *args: str) -> list[dict[str, object]]:
    """`cli list ARGS --json` once it lists `wf` (visibility and the run's own state catch up; bounded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = run_cli("list", *args, "--json", env=stack.env)
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, object]] = json.loads(done.stdout)
        if any(row["workflow_id"] == wf for row in rows):
            return rows
        time.sleep(0.5)
    pytest.fail(f"{wf} never listed by `cli list {' '.join(args)}`")


def _start(stack: Stack, *args: str) -> str:
    started = run_cli("start", "-n", "1", "-a", "ignore", "-ttr", "0.1", "--no-wait", "--json", *args, env=stack.env)
    assert started.returncode == 0, started.stderr
    return str(json.loads(started.stdout)["workflow_id"])


def test_list_filters_waiting_longer_on_a_host_and_timed_out(stack: Stack) -> None:
    waiting = _start(stack, "--stage-timeout", "120")
    timing_out = _start(stack, "--stage-timeout", "1")
    host = stack.env["SERVICE_URL"].removeprefix("http://")
    rows = _listed_until(stack, waiting, "--waiting-longer", "1s", "--waiting-on", host)
    for row in rows:
        assert host in str(row["waiting_on"])
        assert float(str(row["waiting_seconds"])) > 1
    mine = next(row for row in rows if row["workflow_id"] == waiting)
    assert (mine["stage"], mine["waiting_for"]) == (1, "callback")
    assert mine["deadline"]
    elsewhere = json.loads(run_cli("list", "--waiting-on", "no-such-host.example", "--json", env=stack.env).stdout)
    assert waiting not in [row["workflow_id"] for row in elsewhere]

    timed_out = _listed_until(stack, timing_out, "--timed-out-within", "1h")
    assert waiting not in [row["workflow_id"] for row in timed_out]
    mine = next(row for row in timed_out if row["workflow_id"] == timing_out)
    assert "timed out" in str(mine["timed_out"])
    table = run_cli("list", "--timed-out-within", "1h", env=stack.env)
    assert timing_out in table.stdout
