"""`cli start --pipeline`, `cli pipeline validate|show` as real subprocesses against the stack (service mock too)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.runner import run_cli
from tests.stack import Stack, base_env, free_port

DEMO = "pipelines/demo.yaml"
PUBLISH = "pipelines/transcode_publish.yaml"
ASSEMBLY = "pipelines/assemblyai_style.yaml"
QUICK = '{"time_to_request": 0.1, "time_to_callback": 0.2, "action": "complete"}'


@pytest.mark.parametrize("mode", ["signal", "token", "update"])
def test_start_pipeline_json_in_every_mode(stack: Stack, mode: str) -> None:
    done = run_cli("start", "--pipeline", PUBLISH, "--mode", mode, "--json", env=stack.env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["mode"], report["pipeline"]) == ("completed", mode, "transcode-publish")
    assert [(s["stage"], s["outcome"]) for s in report["stages"]] == [
        ("transcode", "completed"),
        ("publish", "completed"),
    ]
    transcode, publish = report["stages"]
    assert publish["result"]["payload"]["asset"] == transcode["result"]["job_id"]
    assert report["ui_url"].endswith(f"/workflows/{report['workflow_id']}")


def test_start_pipeline_for_people_with_input_file(stack: Stack, tmp_path: Path) -> None:
    # Slow enough that the live view sees a stage waiting even on a loaded machine (its first poll can come late).
    (tmp_path / "in.json").write_text('{"time_to_request": 0.1, "time_to_callback": 1.5, "action": "complete"}')
    done = run_cli("start", "--pipeline", DEMO, "--input", f"@{tmp_path / 'in.json'}", env=stack.env)
    assert done.returncode == 0, done.stderr
    assert "(pipeline demo, signal mode, 3 stages)" in done.stdout
    assert re.search(r"stage stage\d \(\d/3\): waiting for", done.stdout)  # live progress from gate_status
    assert "Web UI: http://" in done.stdout
    assert "completed" in done.stdout

    wf = done.stdout.split()[1]
    status = json.loads(run_cli("status", wf, "--json", env=stack.env).stdout)
    assert status["execution_status"] == "completed"
    assert status["status"]["pipeline"] == "demo"
    assert status["status"]["stage_names"] == ["stage1", "stage2", "stage3"]
    result = run_cli("result", wf, "--json", env=stack.env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pipeline"] == "demo"


def test_failed_stage_exit_codes(stack: Stack, tmp_path: Path) -> None:
    fail = '{"time_to_request": 0.1, "time_to_callback": 0.2, "action": "fail"}'
    failed = run_cli("start", "--pipeline", DEMO, "--input", fail, "--mode", "token", "--json", env=stack.env)
    assert failed.returncode == 3, failed.stderr
    report = json.loads(failed.stdout)
    assert (report["status"], report["error_type"]) == ("failed", "StageFailed")
    assert [s["outcome"] for s in report["stages"]] == ["failed"]

    goes_on = tmp_path / "goes_on.yaml"
    goes_on.write_text(Path(DEMO).read_text().replace("defaults:\n", "defaults:\n  on_failure: continue\n"))
    done = run_cli("start", "--pipeline", str(goes_on), "--input", fail, env=stack.env)
    assert done.returncode == 0, done.stderr
    assert "stage stage1 failed (on_failure: continue)" in done.stdout


def test_bad_pipeline_file_is_one_line_exit_2_and_nothing_starts(temporal_address: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(PUBLISH).read_text().replace("${stages.transcode.result.job_id}", "${stages.publish.result}"))
    # Temporal is "down" here: exit 2 (not 1, "cannot reach Temporal") shows nothing tried to start a run.
    env = base_env(temporal_address) | {"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    for args in (["start", "--pipeline", str(bad)], ["pipeline", "validate", str(bad)]):
        done = run_cli(*args, env=env)
        assert done.returncode == 2, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"error: {bad}:"), lines
        assert (
            "stage 'publish' (#2): request.body: ${stages.publish.result}: a stage cannot use its own output"
            in lines[0]
        )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["start", "--pipeline", DEMO, "--stages", "2"], "--stages does not apply to --pipeline runs"),
        (["start", "--pipeline", DEMO, "--input", "[1"], "--input is not valid JSON"),
        (["start", "--pipeline", DEMO, "--input", '{"action": "x"}'], "does not fit the pipeline's schema"),
        (["start", "--pipeline", PUBLISH, "--input", '{"video": "v"}'], "'title' is a required property"),
        (["start", "--pipeline", DEMO, "--mode", "pigeon"], "--mode must be one of"),
        (["start", "--input", "{}"], "--input is for --pipeline runs"),
        (["start", "--pipeline", "nope.yaml"], "nope.yaml: cannot read the file"),
    ],
)
def test_bad_pipeline_options_exit_2(temporal_address: str, args: list[str], needle: str) -> None:
    done = run_cli(*args, env=base_env(temporal_address))
    assert done.returncode == 2, done
    assert needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_validate_and_show(temporal_address: str) -> None:
    env = base_env(temporal_address)
    ok = run_cli("pipeline", "validate", PUBLISH, "--input", '{"video": "v", "title": "t"}', env=env)
    assert ok.returncode == 0, ok.stderr
    assert "ok: pipelines/transcode_publish.yaml: pipeline 'transcode-publish' (version 1), 2 stage(s)" in ok.stdout
    shown = run_cli("pipeline", "show", PUBLISH, env=env)
    assert shown.returncode == 0, shown.stderr
    for needle in ("transcode", "publish", "POST", "publication_id", "sha256:"):
        assert needle in shown.stdout
    as_json = json.loads(run_cli("pipeline", "show", DEMO, "--json", env=env).stdout)
    assert [s["name"] for s in as_json["stages"]] == ["stage1", "stage2", "stage3"]


def test_validate_warns_about_hosts_the_egress_policy_refuses(temporal_address: str) -> None:
    env = base_env(temporal_address)
    quiet = run_cli("pipeline", "validate", PUBLISH, env=env)
    assert (quiet.returncode, quiet.stderr) == (0, "")  # the local default allows the local service
    off_list = run_cli("pipeline", "validate", PUBLISH, env={**env, "STAGEGATE_EGRESS_HOSTS": "api.example.com"})
    assert off_list.returncode == 0, off_list.stderr
    assert (
        f"warning: {PUBLISH}: stage transcode: request url: 127.0.0.1:8001 is not on STAGEGATE_EGRESS_HOSTS; "
        "the worker will refuse it"
    ) in off_list.stderr.splitlines()
    unbound = run_cli(
        "pipeline",
        "validate",
        PUBLISH,
        env={
            **env,
            "PIPELINE_PUBLISH_TOKEN": "t" * 20,
            "STAGEGATE_PIPELINE_ENV_HOSTS": "PIPELINE_PUBLISH_TOKEN=api.example.com",
        },
    )
    assert unbound.returncode == 0, unbound.stderr
    assert unbound.stderr.splitlines() == [
        f"warning: {PUBLISH}: stage publish: request url: ${{env.PIPELINE_PUBLISH_TOKEN}} is not bound to "
        "127.0.0.1:8001 (see STAGEGATE_PIPELINE_ENV_HOSTS); the worker will refuse it"
    ]


def test_validate_warns_about_a_fetch_url_off_the_list(temporal_address: str) -> None:
    env = {**base_env(temporal_address), "STAGEGATE_EGRESS_HOSTS": "api.example.com"}
    done = run_cli("pipeline", "validate", ASSEMBLY, env=env)
    assert done.returncode == 0, done.stderr
    assert (
        f"warning: {ASSEMBLY}: stage transcribe: fetch url: 127.0.0.1:8010 is not on STAGEGATE_EGRESS_HOSTS; "
        "the worker will refuse it"
    ) in done.stderr.splitlines(), done.stderr
