"""The benchmarks on either backend (dev server or `just cluster-up`), each result named for its backend.

`scale --backend dev --runs N`: the bench's own dev server, as `just bench-scale` runs it.
`scale --backend cluster --runs N`: the running `just cluster-up` Temporal (its PostgreSQL and Temporal processes
are sampled beside ours; PostgreSQL with its backends); the bench still starts its own worker and callback server.
Each writes docs/bench/scale-<backend>-<N>.{json,md,png}.
`compare --backend B`: `just bench`'s P0-P3 comparison on either backend, into docs/bench/results-<backend>.*.
`growth` reads every scale JSON and plots memory with all runs waiting, history size per run and the
advance/deliver ratio against N (docs/bench/scale-growth.{md,png}).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from scripts import devstack
from scripts.bench.compare import Outputs, run_compare
from scripts.bench.runner import BenchPlan
from scripts.bench.scale import ScalePlan, run_scale
from scripts.bench.sides import parse_sides
from scripts.cluster.install import installed_binaries
from scripts.cluster.settings import load_cluster_settings
from scripts.cluster.stack import postgres_service, temporal_services
from scripts.devstack import StateDir

BACKENDS = ("dev", "cluster")
RESULT_NAME = re.compile(r"scale-(dev|cluster)-(\d+)\.json")


def cluster_pids() -> tuple[str, dict[str, int]]:
    """The cluster's frontend address and the pids of its PostgreSQL and Temporal processes (all must run)."""
    settings = load_cluster_settings()
    binaries = installed_binaries(settings)
    state = StateDir(settings.state_dir)
    pids: dict[str, int] = {}
    for service in [postgres_service(settings, binaries, state), *temporal_services(settings, binaries, state)]:
        pid = devstack.running_pid(service)
        if pid is None:
            raise SystemExit(f"cluster bench: {service.name} is not running; start the cluster with `just cluster-up`")
        pids[service.name] = pid
    return settings.address, pids


def run(backend: str, runs: int, out: Path, worker_cache: int | None = None) -> int:
    """One scale run; exit code 0 when every run completed. A worker cache other than the default is in the name."""
    worker_env = {} if worker_cache is None else {"WORKER_MAX_CACHED_WORKFLOWS": str(worker_cache)}
    plan = ScalePlan(runs=runs, worker_env=worker_env)
    if backend == "cluster":
        address, pids = cluster_pids()
        plan = replace(plan, temporal_address=address, sample_pids=pids, sample_trees=("postgres",))
    stem = f"scale-{backend}-{runs}" + ("" if worker_cache is None else f"-cache{worker_cache}")
    results = asyncio.run(run_scale(plan, Outputs.under(out, stem), Console()))
    return 0 if results.all_completed else 1


def compare(backend: str, rounds: int, out: Path) -> int:
    """`just bench`'s plan (3 stages, 5 runs at concurrency 1, 50 at saturation) with `rounds` rounds per phase."""
    plan = BenchPlan(c1_rounds=rounds, sat_rounds=rounds)
    address, pids = cluster_pids() if backend == "cluster" else (None, {})
    results = asyncio.run(
        run_compare(
            plan,
            parse_sides("all"),
            Outputs.under(out, f"results-{backend}"),
            Console(),
            temporal_address=address,
            sample_pids=pids,
            sample_trees=frozenset({"postgres"}),
        )
    )
    return 0 if all(s.completed == s.runs for s in results.summaries) else 1


def from_plain_scale(data: dict[str, Any]) -> dict[str, Any]:
    """A `just bench-scale` result (scale.json, from before delivery time and memory at all-waiting were recorded)
    with those read off its once-a-second timeline: delivery ends at the first second every callback is answered,
    memory is the last sample before all runs waited. History size was not measured then (NaN)."""
    runs, waited = int(data["runs"]), float(data["all_waiting_seconds"])
    timeline = data.get("timeline", [])
    before = [p for p in timeline if p["t"] <= waited]
    answered = [p for p in timeline if p["callbacks_answered"] >= runs]
    derived = {
        "rss_at_waiting_mb": before[-1]["rss_mb"] if before else {},
        "deliver_seconds": answered[0]["t"] - waited if answered else math.nan,
        "history_bytes_per_run": math.nan,
        "history_events_per_run": math.nan,
        "derived_from": "scale.json (plain just bench-scale run; delivery time and memory read off its timeline)",
    }
    merged = {**data, **derived}
    deliver = _num(merged["deliver_seconds"])
    merged["advance_over_deliver"] = _num(data.get("advance_seconds")) / deliver if deliver else math.nan
    return merged


def _load(out: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {backend: [] for backend in BACKENDS}
    for path in sorted(out.glob("scale-*-*.json")):
        match = RESULT_NAME.fullmatch(path.name)
        if match:
            found[match.group(1)].append(json.loads(path.read_text()))
    plain = out / "scale.json"  # `just bench-scale`'s own result: the dev server's, when no named one has its size
    if plain.exists():
        data = json.loads(plain.read_text())
        if data.get("runs") and all(int(r["runs"]) != int(data["runs"]) for r in found["dev"]):
            found["dev"].append(from_plain_scale(data))
    for rows in found.values():
        rows.sort(key=lambda r: int(r["runs"]))
    return found


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _fmt(value: object, digits: int) -> str:
    number = _num(value)
    return "-" if math.isnan(number) else f"{number:.{digits}f}"


def growth_markdown(found: dict[str, list[dict[str, Any]]]) -> str:
    """One row per backend and size: times, ratio, lost, history per run, memory with all runs waiting."""
    out = [
        "| backend | runs | callbacks delivered (s) | all advanced (s) | advanced / delivered | lost "
        "| history per run (bytes / events) | RSS with all waiting (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for backend, rows in found.items():
        for r in rows:
            rss = ", ".join(f"{n} {v:.0f}" for n, v in sorted(r.get("rss_at_waiting_mb", {}).items()))
            out.append(
                f"| {backend} | {r['runs']} | {_fmt(r.get('deliver_seconds'), 1)} "
                f"| {_fmt(r.get('advance_seconds'), 1)} | {_fmt(r.get('advance_over_deliver'), 2)} "
                f"| {int(r['runs']) - int(r['completed'])} "
                f"| {_fmt(r.get('history_bytes_per_run'), 0)} / {_fmt(r.get('history_events_per_run'), 0)} "
                f"| {rss} |"
            )
    return "\n".join(out) + "\n"


def cpu_markdown(found: dict[str, list[dict[str, Any]]]) -> str:
    """CPU milliseconds per run of each process: starting until all wait, and advancing (mean CPU x phase time / N).

    Unlike the phase times, these hardly depend on what else the machine runs: where the time goes, per backend.
    """
    phases = (("start until all waiting", "all_waiting_seconds", "start"), ("advance", "advance_seconds", "advance"))
    out = ["| backend | runs | phase | CPU ms per run, by process | total |", "|---|---:|---|---|---:|"]
    for backend, rows in found.items():
        for r in rows:
            for phase, seconds_key, label in phases:
                mean = r.get("busiest", {}).get(phase, {})
                seconds = _num(r.get(seconds_key))
                per_run = {n: pct / 100 * seconds / int(r["runs"]) * 1000 for n, pct in mean.items() if n != "bench"}
                shown = ", ".join(f"{n} {v:.1f}" for n, v in sorted(per_run.items(), key=lambda kv: -kv[1]))
                out.append(f"| {backend} | {r['runs']} | {label} | {shown} | {sum(per_run.values()):.1f} |")
    return "\n".join(out) + "\n"


def plot_growth(found: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Three panels against N: RSS per process with all runs waiting, history bytes per run, advanced/delivered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rss, history, ratio) = plt.subplots(1, 3, figsize=(16, 5), constrained_layout=True)
    styles = {"dev": "--", "cluster": "-"}
    for backend, rows in found.items():
        if not rows:
            continue
        n = [int(r["runs"]) for r in rows]
        names = sorted({name for r in rows for name in r.get("rss_at_waiting_mb", {}) if name != "bench"})
        for name in names:
            values = [_num(r.get("rss_at_waiting_mb", {}).get(name)) for r in rows]
            rss.plot(n, values, styles[backend], marker="o", label=f"{backend}: {name}")
        style = styles[backend]
        history.plot(n, [_num(r.get("history_bytes_per_run")) for r in rows], style, marker="o", label=backend)
        ratio.plot(n, [_num(r.get("advance_over_deliver")) for r in rows], style, marker="o", label=backend)
    ratio.axhline(1.2, color="grey", linewidth=0.8, label="goal 1.2")
    for ax in (rss, history, ratio):
        ax.set_ylim(bottom=0)  # sizes and ratios from zero: a 3 % difference must not look like a doubling
    rss.set(xlabel="runs waiting at once", ylabel="RSS with all runs waiting (MB)", title="memory per process")
    history.set(xlabel="runs", ylabel="bytes per completed run", title="history size per run")
    ratio.set(xlabel="runs", ylabel="all advanced / all callbacks delivered", title="advance vs delivery time")
    for ax in (rss, history, ratio):
        ax.grid(visible=True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("stagegate scale runs: dev server (dashed) vs Temporal on PostgreSQL (solid)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def growth(out: Path) -> int:
    """The growth table and plot from every scale-<backend>-<N>.json under out."""
    found = _load(out)
    if not any(found.values()):
        print(f"cluster bench: no scale-<backend>-<N>.json under {out}", file=sys.stderr)
        return 1
    text = growth_markdown(found) + "\n" + cpu_markdown(found)
    (out / "scale-growth.md").write_text(text)
    plot_growth(found, out / "scale-growth.png")
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="cluster-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    scale = sub.add_parser("scale", help="one scale run on one backend")
    scale.add_argument("--backend", choices=BACKENDS, default="cluster")
    scale.add_argument("--runs", type=int, default=10_000)
    scale.add_argument("--out", type=Path, default=Path("docs/bench"))
    scale.add_argument("--worker-cache", type=int, default=None, help="the worker's WORKER_MAX_CACHED_WORKFLOWS")
    comp = sub.add_parser("compare", help="P0 against P1-P3 (as `just bench`) on one backend")
    comp.add_argument("--backend", choices=BACKENDS, default="cluster")
    comp.add_argument("--rounds", type=int, default=5)
    comp.add_argument("--out", type=Path, default=Path("docs/bench"))
    grow = sub.add_parser("growth", help="table and plot from every scale-<backend>-<N>.json")
    grow.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args(argv)
    if args.command == "scale":
        return run(args.backend, args.runs, args.out, args.worker_cache)
    if args.command == "compare":
        return compare(args.backend, args.rounds, args.out)
    return growth(args.out)


if __name__ == "__main__":
    sys.exit(main())
