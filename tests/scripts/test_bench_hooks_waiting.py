"""`just bench-hooks-waiting`: fixed-endpoint stages waiting at once, every event sent, mailboxes counted after.

A small real run (a stack of its own, as a subprocess): every run advanced by its event, none lost, and every
mailbox ended once its settle time passed. Slow (the settle time alone is 70 s), so outside `just test`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import ROOT


@pytest.mark.slow
@pytest.mark.integration  # the bench starts a stack of its own
@pytest.mark.parametrize("mode", ["signal", "token", "update"])
def test_waiting_stages_all_advance_and_their_mailboxes_end(mode: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLBACK_", "SERVICE_"))}
    done = subprocess.run(  # a fixed command: this interpreter and the bench module
        [sys.executable, "-m", "scripts.bench.hooks_waiting", "--runs", "12", "--mode", mode, "--out", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((tmp_path / f"hooks-waiting-{mode}-12.json").read_text())
    assert (data["advanced"], data["lost"]) == (12, 0)
    assert data["open_mailboxes_right_after"] == 12
    assert data["open_mailboxes_later"] == 0
    assert data["delivery_seconds"] > 0
    assert data["all_advanced_seconds"] > 0
