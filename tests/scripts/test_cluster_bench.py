"""scripts/cluster/bench.py's tables and plot from scale-run JSON files (no stack, no server)."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.cluster.bench import growth


def _result(runs: int, completed: int, history_bytes: float) -> dict[str, object]:
    return {
        "runs": runs,
        "completed": completed,
        "deliver_seconds": 10.0,
        "advance_seconds": 11.0,
        "all_waiting_seconds": 20.0,
        "advance_over_deliver": 1.1,
        "history_bytes_per_run": history_bytes,
        "history_events_per_run": 19.0,
        "rss_at_waiting_mb": {"temporal": 300.0, "worker": 200.0, "bench": 100.0},
        "busiest": {"start until all waiting": {"temporal": 50.0, "bench": 5.0}, "advance": {"temporal": 40.0}},
    }


def test_growth_reads_every_backend_and_size(tmp_path: Path) -> None:
    for backend, runs, completed in (("dev", 1000, 1000), ("dev", 10000, 9999), ("cluster", 1000, 1000)):
        name = f"scale-{backend}-{runs}.json"
        (tmp_path / name).write_text(json.dumps(_result(runs, completed, 4000.0)))
    (tmp_path / "scale.json").write_text("{}")  # the plain `just bench-scale` output is not one of them

    assert growth(tmp_path) == 0

    table = (tmp_path / "scale-growth.md").read_text()
    assert "| dev | 10000 | 10.0 | 11.0 | 1.10 | 1 | 4000 / 19 |" in table  # 1 lost
    assert "| cluster | 1000 |" in table
    # CPU per run: 40 % of a core for 11 s over 1,000 runs = 4.4 ms; the bench itself is left out.
    assert "| cluster | 1000 | advance | temporal 4.4 | 4.4 |" in table
    assert "| cluster | 1000 | start | temporal 10.0 | 10.0 |" in table  # not the bench's own 5 %
    assert (tmp_path / "scale-growth.png").stat().st_size > 0


def test_growth_without_results_fails(tmp_path: Path) -> None:
    assert growth(tmp_path) == 1


def test_a_plain_scale_result_counts_as_the_dev_servers(tmp_path: Path) -> None:
    timeline = [
        {"t": 9.0, "callbacks_answered": 0, "rss_mb": {"temporal": 900.0}},
        {"t": 12.0, "callbacks_answered": 0, "rss_mb": {"temporal": 990.0}},
        {"t": 20.0, "callbacks_answered": 500, "rss_mb": {"temporal": 1000.0}},
        {"t": 30.0, "callbacks_answered": 1000, "rss_mb": {"temporal": 1001.0}},
    ]
    plain = {"runs": 1000, "completed": 1000, "all_waiting_seconds": 12.5, "advance_seconds": 35.0}
    (tmp_path / "scale.json").write_text(json.dumps({**plain, "timeline": timeline, "busiest": {}}))

    assert growth(tmp_path) == 0

    # Delivered 30 - 12.5 = 17.5 s after the first POST; 35 / 17.5 = 2.00; memory from the sample at 12 s.
    table = (tmp_path / "scale-growth.md").read_text()
    assert "| dev | 1000 | 17.5 | 35.0 | 2.00 | 0 | - / - | temporal 990 |" in table
