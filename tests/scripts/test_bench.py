"""`python -m scripts.bench` (`just bench`) for real, tiny: every side on a stack of its own, valid output written;
no timings checked.

Plus the numbers' arithmetic (percentiles, throughput over rounds, ratios and goals) on made-up batches.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from scripts.bench.results import (
    PHASE_C1,
    PHASE_SATURATION,
    Batch,
    BenchResults,
    Percentiles,
    ratios_and_goals,
    summarize,
)
from scripts.bench.sides import BY_KEY, SIDES, parse_sides, side_of_workflow
from tests.stack import ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m scripts.bench ARGS` from the project root, as `just bench` runs it; bounded by `timeout`."""
    return subprocess.run(  # a fixed command: this interpreter and the bench module
        [sys.executable, "-m", "scripts.bench", *args],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env() -> dict[str, str]:
    # The bench starts its own dev server and processes on free ports; only TEMPORAL_CLI matters from outside.
    return {k: v for k, v in os.environ.items() if not k.startswith(("CALLBACK_", "SERVICE_"))}


@pytest.mark.integration  # the bench starts a stack of its own
def test_quick_bench_writes_json_table_and_plot(tmp_path: Path) -> None:
    done = _bench("--quick", "--out", str(tmp_path), timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())

    sides = {s.key for s in SIDES}
    assert set(data["meta"]["sides"]) == sides
    for phase in (PHASE_C1, PHASE_SATURATION):
        summaries = {s["side"]: s for s in data["summaries"] if s["phase"] == phase}
        assert set(summaries) == sides, phase
        for s in summaries.values():
            assert s["completed"] == s["runs"] > 0, s
            assert s["advances"] == s["runs"] * data["meta"]["plan"]["stages"], s
            assert s["advances_per_s"] > 0
            assert s["latency_ms"]["n"] == s["advances"], s
            assert s["latency_ms"]["p50"] <= s["latency_ms"]["p95"] <= s["latency_ms"]["p99"]
            assert {"temporal", "worker", "bench"} <= set(s["cpu_s_per_1000_advances"])
            assert s["peak_rss_mb"]["worker"] > 0
            if s["via"] == "http":
                assert s["hop_ms"]["n"] == s["advances"], (s, data["answers"], data["meta"]["log_dir"])
        assert set(data["latencies_ms"][phase]) == sides
    assert {h["side"] for h in data["history"]} == sides
    assert all(h["events_per_stage"] > 0 and h["bytes_per_stage"] > 0 for h in data["history"])
    assert {r["side"] for r in data["ratios"]} == {"p1-signal", "p2-token", "p3-update"}
    assert len(data["goals"]) == 9
    assert all(isinstance(g["met"], bool) for g in data["goals"])
    # Every callback the bench fired was taken (SDK ok, or 2xx from the callback server).
    assert data["answers"]
    assert all(k.endswith((" sdk ok", " 200", " 202")) for k in data["answers"]), data["answers"]

    table = (tmp_path / "results.md").read_text()
    for heading in ("### Saturation", "### Concurrency 1", "### History per stage", "### Goals"):
        assert heading in table
    assert table.count("\n| P0 signal (SDK) |") >= 3

    plot = (tmp_path / "results.png").read_bytes()
    assert plot.startswith(PNG_MAGIC)
    assert len(plot) > 10_000

    # Everything the bench started is gone (stopped by pid).
    for name, pid in data["meta"]["pids"].items():
        assert not _alive(pid), f"{name} (pid {pid}) still runs"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.integration  # `cli bench` as a subprocess
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--sides", "p9-carrier-pigeon"], "unknown side p9-carrier-pigeon"),
        (["--scale", "10", "--scale-mode", "fax"], "argument --scale-mode: invalid choice: 'fax'"),
        (["--concurrency", "1"], "argument --concurrency/-c: must be at least 2, got 1"),
        (["--callback-env", "NOEQUALS"], "--callback-env takes KEY=VALUE"),
    ],
)
def test_bad_bench_options_are_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    done = _bench(*args, "--out", str(tmp_path), timeout=60)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert needle in lines[0]
    assert not list(tmp_path.iterdir()), "nothing may be started or written for a bad option"


def test_sides_parse_and_workflow_ids_map_back() -> None:
    assert parse_sides("all") == list(SIDES)
    assert [s.key for s in parse_sides("p1-signal, p0-signal")] == ["p1-signal", "p0-signal"]
    ab = [s.key for s in parse_sides("all", with_b=True)]
    assert len(ab) == len(SIDES) + 3
    assert ab[ab.index("p1-signal") + 1] == "p1-signal-b"
    assert side_of_workflow("bench-p1-signal-b-c1-0-1-abcdef") == BY_KEY["p1-signal-b"]
    for side in SIDES:
        assert side_of_workflow(f"bench-{side.key}-c1-0-1-abcdef") == side
    assert side_of_workflow("stagegate-signal-123") is None


def test_percentiles_are_nearest_rank() -> None:
    p = Percentiles.of([float(v) for v in range(100, 0, -1)])
    assert (p.n, p.p50, p.p95, p.p99) == (100, 50.0, 95.0, 99.0)
    assert math.isnan(Percentiles.of([]).p50)


def _batch(side: str, phase: str, *, advances: int, elapsed: float, latency: float, cpu: float, rnd: int = 0) -> Batch:
    return Batch(
        side=side,
        phase=phase,
        round=rnd,
        runs=advances,
        completed=advances,
        advances=advances,
        elapsed_s=elapsed,
        cpu_s={"worker": cpu},
        peak_rss={"worker": 2**20},
        latencies_ms=[latency] * advances,
        hop_ms=[],
        workflow_ids=[],
    )


def test_throughput_sums_windows_and_ratios_judge_the_goals() -> None:
    # Two rounds of different length: 300 advances in 3 s is 100/s, not the mean of the rounds' rates.
    sat = PHASE_SATURATION
    p0 = summarize(
        "p0-signal",
        sat,
        [
            _batch("p0-signal", sat, advances=200, elapsed=1.0, latency=10, cpu=1.0, rnd=1),
            _batch("p0-signal", sat, advances=100, elapsed=2.0, latency=10, cpu=1.0, rnd=0),
        ],
    )
    assert p0.advances_per_s == pytest.approx(100.0)
    assert p0.advances_per_s_rounds == [50.0, 200.0]  # in round order
    assert p0.cpu_s_per_1000_advances["worker"] == pytest.approx(2000 / 300)
    p1 = summarize(
        "p1-signal",
        sat,
        [
            _batch("p1-signal", sat, advances=45, elapsed=1.0, latency=12, cpu=1, rnd=0),
            _batch("p1-signal", sat, advances=170, elapsed=1.0, latency=12, cpu=1, rnd=1),
        ],
    )
    c1 = [
        summarize("p0-signal", PHASE_C1, [_batch("p0-signal", PHASE_C1, advances=5, elapsed=1, latency=4.0, cpu=1)]),
        summarize("p1-signal", PHASE_C1, [_batch("p1-signal", PHASE_C1, advances=5, elapsed=1, latency=8.5, cpu=1)]),
    ]
    results = BenchResults(meta={}, summaries=[p0, p1, *c1])
    ratios_and_goals(results)
    (ratio,) = results.ratios
    # Paired by round: 45/50 = 0.90 and 170/200 = 0.85, median 0.875; pooled 215/2 s over 300/3 s = 1.075.
    assert ratio.throughput_ratio_rounds == pytest.approx([0.9, 0.85])
    assert ratio.throughput_ratio == pytest.approx(0.875)
    assert ratio.throughput_ratio_pooled == pytest.approx(1.075)
    assert ratio.added_p50_ms_c1 == pytest.approx(4.5)
    assert ratio.capacity_ratio == pytest.approx((2000 / 300) / (2000 / 215))  # CPU per advance, P0 over P1
    assert [g.met for g in results.goals] == [False, False, True]
    # Two rounds: the bootstrap medians are 0.85, 0.875 or 0.90; the 95 % interval spans the rounds.
    assert (ratio.throughput_ratio_low, ratio.throughput_ratio_high) == pytest.approx((0.85, 0.9))
    assert "0.88 [0.85-0.90] x (median of 2 rounds" in results.goals[0].measured


def test_an_ab_run_reads_each_sides_own_callback_server() -> None:
    # Side A's callbacks reach callback_server, its -b twin's callback_server_b: each round's CPU per advance
    # is read from the server the side used, and the report puts both servers side by side per mode.
    from scripts.bench.report import markdown_report

    sat = PHASE_SATURATION

    def batch(side: str, rnd: int, a_cpu: float, b_cpu: float) -> Batch:
        base = _batch(side, sat, advances=100, elapsed=1.0, latency=10, cpu=1.0, rnd=rnd)
        return Batch(**{**base.__dict__, "cpu_s": {"callback_server": a_cpu, "callback_server_b": b_cpu}})

    a = summarize("p1-signal", sat, [batch("p1-signal", 0, 0.15, 0.0), batch("p1-signal", 1, 0.17, 0.01)])
    b = summarize("p1-signal-b", sat, [batch("p1-signal-b", 0, 0.0, 0.2), batch("p1-signal-b", 1, 0.01, 0.18)])
    assert a.callback_server_cpu_ms_rounds == pytest.approx([1.5, 1.7])
    assert b.callback_server_cpu_ms_rounds == pytest.approx([2.0, 1.8])
    report = markdown_report(BenchResults(meta={}, summaries=[a, b]))
    # A/B per round 0.75 and 0.944: median 0.85.
    assert "| signal | 1.60 (1.50-1.70) | 1.90 (1.80-2.00) | 0.85 (0.75-0.94) | 2 |" in report
