"""deploy/alerts.yml: valid for promtool, and its "callbacks stopped" rule fires on real worker metrics.

A real worker (its own SDK runtime with a Prometheus endpoint on loopback) runs a demo stage whose service
never calls back; the gate's series scraped from that endpoint, names and labels as they are, become the
input of `promtool test rules`: stages started, none advanced by a callback -> StagegateCallbacksStopped
fires. The same series plus one callback-advanced stage must not fire it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig

from app.demo.payloads import Action, StagedRunInput
from app.gate import gate_metrics
from app.gate.types import Mode
from app.runtime.config import Settings
from app.starter import start_staged_run
from app.worker import build_worker, prometheus_config
from service_mock.config import Settings as MockSettings
from service_mock.server import create_app as create_mock
from tests.asgi import serving
from tests.stack import ROOT, free_port

RULES = ROOT / "deploy" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed: `just alerts` installs it (Debian package `prometheus`)"
)
WAIT_TIMEOUT = 30.0
ALERT = "StagegateCallbacksStopped"
_SAMPLE = re.compile(r"^(stagegate_[a-z_]+)(\{[^}]*\})?\s+([0-9.e+-]+)$")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.integration  # promtool runs as a subprocess
@needs_promtool
def test_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 rules found" in done.stdout


async def _scrape_waiting_worker(client: Client, settings: Settings) -> list[tuple[str, str, float]]:
    """Gate series of a worker whose only run waits for a callback that never comes: (name, labels, value)."""
    port = free_port()
    bind = replace(settings, worker_metrics_bind=f"127.0.0.1:{port}")
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus_config(bind)))
    worker_client = await Client.connect(client.service_client.config.target_host, runtime=runtime)
    async with serving(create_mock(MockSettings())) as service_url, httpx.AsyncClient() as http:
        worker = build_worker(replace(settings, service_url=service_url), worker_client, http)
        async with worker:
            handle = await start_staged_run(
                worker_client,
                settings.task_queue,
                StagedRunInput(mode=Mode.SIGNAL, stages=1, actions=[Action.IGNORE], stage_timeout_seconds=600),
                workflow_id=f"alerts-{uuid.uuid4().hex[:8]}",
            )
            try:
                async with asyncio.timeout(WAIT_TIMEOUT):
                    while True:
                        meta: WorkflowMetadata = await handle.query(
                            "__temporal_workflow_metadata", result_type=WorkflowMetadata
                        )
                        if "waiting for: the callback" in meta.current_details:
                            break
                        await asyncio.sleep(0.2)
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            finally:
                await handle.terminate("test done")
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match:
            samples.append((match.group(1), match.group(2) or "{}", float(match.group(3))))
    return samples


def _series(name: str, labels: str, value: float) -> dict[str, Any]:
    # Zero for 20 minutes, then the scraped value: evaluated at 45m, every 30m window of the rule's `for`
    # (5m) holds the rise.
    return {"series": f"{name}{labels}", "values": f"0+0x19 {value:g}+0x40"}


def _rule(name: str) -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load(RULES.read_text(encoding="utf-8"))
    return next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == name)


def _alert_test(series: list[dict[str, Any]], *, fires: bool) -> dict[str, Any]:
    rule = _rule(ALERT)
    expected = [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}] if fires else []
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": "45m", "alertname": ALERT, "exp_alerts": expected}],
    }


@needs_promtool
async def test_callbacks_stopped_fires_on_real_worker_metrics(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    samples = await _scrape_waiting_worker(client, settings)
    started = [s for s in samples if s[0] == gate_metrics.STAGES_STARTED]
    assert started, samples  # the worker exported the gate's counter
    assert not [s for s in samples if s[0] == gate_metrics.STAGES_ENDED]  # nothing advanced the stage
    real = [_series(*s) for s in started]
    labels = started[0][1]
    advanced = labels.replace("{", '{advanced_by="signal",outcome="completed",', 1)
    with_callback = [*real, _series(gate_metrics.STAGES_ENDED, advanced, 1)]

    tests_file = tmp_path / "alerts_test.yml"
    tests_file.write_text(
        json.dumps(
            {
                "rule_files": [str(RULES)],
                "evaluation_interval": "1m",
                "tests": [_alert_test(real, fires=True), _alert_test(with_callback, fires=False)],
            }
        )
    )
    done = promtool("test", "rules", str(tests_file))
    assert done.returncode == 0, done.stdout + done.stderr
