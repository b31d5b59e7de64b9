"""The bench's sampler over a process tree: the CPU of children that exit stays counted (PostgreSQL's backends)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest

from scripts.bench.sampler import Sampler

# A parent that starts three short-lived children one after another, each burning ~0.2 CPU-s, then sleeps.
BURN = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.2: pass"
PARENT = f"""
import subprocess, sys, time
for _ in range(3):
    subprocess.run([sys.executable, "-c", "{BURN}"])
time.sleep(30)
"""


@pytest.mark.integration  # a process tree of its own (subprocesses)
def test_tree_cpu_never_steps_back_when_children_exit() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])  # our own fixed snippet
    try:
        sampler = Sampler({"tree": parent.pid}, trees=frozenset({"tree"}))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sampler.take()
            if sampler.samples[-1].cpu.get("tree", 0.0) >= 0.6:
                break
            time.sleep(0.05)
        series = [s.cpu["tree"] for s in sampler.samples if "tree" in s.cpu]
        assert series[-1] >= 0.6  # all three children's CPU, though every one of them has exited
        assert all(b >= a - 0.01 for a, b in itertools.pairwise(series))
    finally:
        parent.kill()
        parent.wait()
