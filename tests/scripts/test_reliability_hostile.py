"""The hostile-input reliability row, fast subset: every class twice, one run per mode, on the session's server.

The script itself (scripts/reliability/hostile.py) is what runs: its own service mock, callback server and
worker as subprocesses, real runs waiting while the hostile requests fire. The full row (20 classes x 50
tries, 30 runs) is the same script with its defaults.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from scripts.reliability.hostile_inputs import CLASSES, REPLAY
from tests.stack import ROOT

SCRIPT_MODULE = "scripts.reliability.hostile"


def _run(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(  # our own script with fixed arguments
        [sys.executable, "-m", SCRIPT_MODULE, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script stops what it started, by pid
        out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_twenty_classes_refused_no_run_lost_or_double_advanced(temporal_address: str, tmp_path: Path) -> None:
    out = tmp_path / "hostile.json"
    args = ["--tries", "2", "--runs-per-mode", "1", "--time-to-callback", "4", "--json-out", str(out)]
    done = _run([*args, "--temporal-address", temporal_address])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert len(summary["classes"]) == len(CLASSES) == 20
    assert summary["tries"] == 40
    assert (summary["answers_5xx"], summary["runs_lost"], summary["runs_double_advanced"]) == (0, 0, 0)
    for name, result in summary["classes"].items():
        statuses = {int(status) for status in result["by_status"]}
        if name != REPLAY:
            assert all(400 <= status < 500 for status in statuses), (name, result)
    row = done.stdout.strip().splitlines()[-1]
    assert row.startswith("| 20 classes of hostile input x 2 tries"), row
    assert row.endswith("| 0 | 0 | 0 | `just reliability-row hostile` |"), row
