"""`just bench-shape` (`python -m scripts.bench --ab-shape replicate`): a foreign callback body through a callback
shape beside stagegate's own body. The quick run for real (a stack of its own), and on made-up numbers: the
sides, the re-signed URL, that both sides send the same event, and the per-round pairing of the ratios.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import msgspec
import pytest

from app.callbacks.shapes import decode_foreign_body
from app.callbacks.wire import CallbackBody
from app.gate.callback_urls import CallbackSigner, CallbackTarget, verify_callback_params
from app.gate.types import Mode
from scripts.bench.results import PHASE_SATURATION, Batch, BenchResults, shape_ratios_and_goals, summarize
from scripts.bench.shape_cost import costs
from scripts.bench.shapes import REPLICATE, with_shape
from scripts.bench.sides import BY_KEY, parse_sides, side_of_workflow
from tests.stack import ROOT

SECRET = "s" * 40


def test_shape_sides_are_the_http_sides_each_beside_its_foreign_twin() -> None:
    keys = [s.key for s in parse_sides("all", with_shape=True)]
    assert keys == [
        "p1-signal",
        "p1-signal-shape",
        "p2-token",
        "p2-token-shape",
        "p3-update",
        "p3-update-shape",
    ]
    twin = BY_KEY["p2-token-shape"]
    assert (twin.mode, twin.body, twin.own_key) == (Mode.TOKEN, "foreign", "p2-token")
    assert side_of_workflow("bench-p2-token-shape-saturation-0-1-abcdef") == twin
    assert side_of_workflow("bench-p2-token-saturation-0-1-abcdef") == BY_KEY["p2-token"]


@pytest.mark.parametrize("mode", list(Mode))
def test_the_re_signed_url_is_the_workers_url_with_the_shape(mode: Mode) -> None:
    target = CallbackTarget(
        mode=mode,
        workflow_id="bench-p1-signal-shape-c1-0-0-abcdef",
        stage=2,
        attempt=1,
        expires_at=int(time.time()) + 600,
        task_token=b"\x01token" if mode is Mode.TOKEN else None,
    )
    signer = CallbackSigner("http://127.0.0.1:9", SECRET)
    shaped = with_shape(signer.url_for(target), mode, SECRET, REPLICATE.shape)
    parts = urlsplit(shaped)
    got = verify_callback_params(mode, parse_qsl(parts.query), [SECRET], now=time.time())
    assert got.shape == REPLICATE.shape
    assert got == CallbackTarget(**{**target.__dict__, "shape": REPLICATE.shape})
    assert shaped == signer.url_for(CallbackTarget(**{**target.__dict__, "shape": REPLICATE.shape}))


def test_both_sides_send_the_same_event() -> None:
    """The Replicate body read with its shape is exactly the own body its twin sends: only the reading differs."""
    event = "bench-p1-signal-shape-c1-0-0-abcdef-1"
    raw = json.dumps(REPLICATE.body(event)).encode()
    headers = [(k.encode(), v.encode()) for k, v in REPLICATE.headers(event).items()]
    foreign = decode_foreign_body(raw, REPLICATE.shape, headers, max_result_bytes=65536)
    own = msgspec.json.decode(json.dumps(REPLICATE.own_body(event)).encode(), type=CallbackBody)
    assert foreign == own
    assert foreign is not None
    assert foreign.callback_id == f"msg_{event}"


def _batch(side: str, rnd: int, *, advances: int, elapsed: float, server_cpu: float) -> Batch:
    return Batch(
        side=side,
        phase=PHASE_SATURATION,
        round=rnd,
        runs=advances,
        completed=advances,
        advances=advances,
        elapsed_s=elapsed,
        cpu_s={"callback_server": server_cpu, "worker": 1.0},
        peak_rss={},
        latencies_ms=[1.0] * advances,
        hop_ms=[],
        workflow_ids=[],
    )


def test_shape_ratios_pair_rounds_and_judge_the_goals() -> None:
    own = summarize(
        "p1-signal",
        PHASE_SATURATION,
        [
            _batch("p1-signal", 0, advances=100, elapsed=2.0, server_cpu=0.20),  # 50/s, 2.0 ms per advance
            _batch("p1-signal", 1, advances=100, elapsed=1.0, server_cpu=0.25),  # 100/s, 2.5 ms
            _batch("p1-signal", 2, advances=100, elapsed=4.0, server_cpu=0.20),  # 25/s, 2.0 ms
        ],
    )
    foreign = summarize(
        "p1-signal-shape",
        PHASE_SATURATION,
        [
            _batch("p1-signal-shape", 0, advances=100, elapsed=2.5, server_cpu=0.25),  # 40/s: 0.8; CPU 2.0/2.5
            _batch("p1-signal-shape", 1, advances=100, elapsed=1.0, server_cpu=0.25),  # 100/s: 1.0; CPU 1.0
            _batch("p1-signal-shape", 2, advances=100, elapsed=4.0, server_cpu=0.20),  # 25/s: 1.0; CPU 1.0
        ],
    )
    assert foreign.callback_server_cpu_ms_rounds == pytest.approx([2.5, 2.5, 2.0])
    results = BenchResults(meta={}, summaries=[own, foreign])
    shape_ratios_and_goals(results)
    (ratio,) = results.shape_ratios
    assert (ratio.side, ratio.own, ratio.mode) == ("p1-signal-shape", "p1-signal", "signal")
    assert (ratio.throughput_ratio.median, ratio.throughput_ratio.low, ratio.throughput_ratio.high) == pytest.approx(
        (1.0, 0.8, 1.0)
    )
    assert ratio.throughput_ratio.rounds == 3
    assert ratio.server_capacity_ratio.median == pytest.approx(1.0)
    assert ratio.server_capacity_ratio.low == pytest.approx(0.8)
    assert ratio.own_advances_per_s.median == pytest.approx(50.0)
    assert [g.met for g in results.goals] == [True, True]
    # A foreign side 10 % slower in every round misses the goal.
    slow = summarize(
        "p1-signal-shape",
        PHASE_SATURATION,
        [
            _batch("p1-signal-shape", rnd, advances=90, elapsed=elapsed, server_cpu=0.3)
            for rnd, elapsed in enumerate([2.0, 1.0, 4.0])
        ],
    )
    missed = BenchResults(meta={}, summaries=[own, slow])
    shape_ratios_and_goals(missed)
    assert [g.met for g in missed.goals] == [False, False]
    assert not math.isnan(missed.shape_ratios[0].throughput_ratio.median)


@pytest.mark.integration  # the bench starts a stack of its own
def test_quick_shape_bench_writes_the_comparison(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLBACK_", "SERVICE_"))}
    done = subprocess.run(  # a fixed command: this interpreter and the bench module
        [sys.executable, "-m", "scripts.bench", "--ab-shape", "replicate", "--quick", "--out", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((tmp_path / "shape-replicate.json").read_text())
    assert data["meta"]["foreign_body"] == "replicate"
    assert {s["side"] for s in data["summaries"]} == {s.key for s in parse_sides("all", with_shape=True)}
    assert all(s["completed"] == s["runs"] > 0 for s in data["summaries"])
    assert [r["mode"] for r in data["shape_ratios"]] == ["signal", "token", "update"]
    # Every callback of both bodies was taken at once (no 4xx: the shape read every foreign body).
    assert data["answers"]
    assert all(k.endswith((" 200", " 202")) for k in data["answers"]), data["answers"]
    assert any(k.startswith("p1-signal-shape ") for k in data["answers"])
    assert "### Foreign callback body" in (tmp_path / "shape-replicate.md").read_text()


@pytest.mark.integration  # the bench as a subprocess
def test_a_foreign_side_without_ab_shape_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(  # a fixed command: this interpreter and the bench module
        [sys.executable, "-m", "scripts.bench", "--sides", "p1-signal-shape", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    assert done.stderr.strip() == "error: foreign-body sides (*-shape) need --ab-shape NAME"
    assert not list(tmp_path.iterdir())


def test_shape_cost_measures_both_paths() -> None:
    """`python -m scripts.bench.shape_cost` (in process, tiny n): every step measured, nothing timed here."""
    found = costs(50)
    assert set(found) == {"verify URL, own", "verify URL, with shape", "read body, own", "read body, foreign"}
    assert all(value > 0 for value in found.values())
