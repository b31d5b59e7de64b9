"""The scale run as markdown and as a PNG timeline."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from scripts.bench.scale_results import ScaleResults


def _f(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def scale_markdown(r: ScaleResults) -> str:
    """The figures the issue asks for, one table, then CPU per phase and peak memory."""
    plan = r.meta.get("plan", {})
    rows = [
        ("runs", f"{r.runs} ({plan.get('mode', '?')} mode, 1 stage each)"),
        ("started", f"{r.started} in {_f(r.start_seconds)} s ({_f(r.start_rate)} starts/s)"),
        ("all waiting at their gate", f"{r.waiting} after {_f(r.all_waiting_seconds)} s"),
        ("callbacks delivered (all answered)", f"{_f(r.deliver_seconds)} s after the first POST"),
        ("advanced through the callback server", f"{_f(r.advance_seconds)} s ({_f(r.advance_rate)} completions/s)"),
        ("advanced / delivered (goal <= 1.2)", _f(r.advance_over_deliver, 2)),
        ("completed", f"{r.completed} of {r.runs}" + ("" if r.all_completed else " **(not all)**")),
        ("callback answers", ", ".join(f"{k}: {v}" for k, v in sorted(r.callback_answers.items())) or "-"),
        (
            "history per run (completed)",
            f"{_f(r.history_bytes_per_run, 0)} bytes, {_f(r.history_events_per_run)} events",
        ),
    ]
    out = ["| figure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), ""]
    out += [
        f"| process | RSS (MB) with all {r.runs} waiting | peak RSS (MB) | "
        + " | ".join(f"CPU % {p}" for p in r.busiest)
        + " |"
    ]
    out += ["|---|---:|---:|" + "---:|" * len(r.busiest)]
    for name, mb in sorted(r.peak_rss_mb.items()):
        cpu = " | ".join(_f(r.busiest[p].get(name, math.nan), 0) for p in r.busiest)
        out.append(f"| {name} | {_f(r.rss_at_waiting_mb.get(name, math.nan), 0)} | {mb:.0f} | {cpu} |")
    out += ["", "Saturated first (busiest process, mean CPU over the phase):", ""]
    out += [f"- {phase}: {text}" for phase, text in r.saturated_first.items()]
    return "\n".join(out) + "\n"


def plot_scale(r: ScaleResults, path: Path) -> None:
    """Three panels over time: runs started / waiting / completed, CPU % per process, RSS per process."""
    fig, (counts, cpu, rss) = plt.subplots(3, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    t = [p.t for p in r.timeline]
    counts.plot(t, [p.started for p in r.timeline], label="started")
    counts.plot(t, [p.waiting for p in r.timeline], label="waiting at the gate (request received)")
    counts.plot(t, [p.callbacks_answered for p in r.timeline], label="callbacks answered")
    counts.plot(t, [p.completed for p in r.timeline], label="completed")
    counts.set_ylabel("runs")
    counts.legend(fontsize=8)
    names = sorted({n for p in r.timeline for n in p.cpu_percent})
    for name in names:
        cpu.plot(t, [p.cpu_percent.get(name, math.nan) for p in r.timeline], label=name)
        rss.plot(t, [p.rss_mb.get(name, math.nan) for p in r.timeline], label=name)
    cpu.set_ylabel("CPU % (100 = one core)")
    cpu.legend(fontsize=8)
    rss.set_ylabel("RSS (MB)")
    rss.set_xlabel("seconds since the first start")
    rss.legend(fontsize=8)
    for ax in (counts, cpu, rss):
        ax.grid(visible=True, alpha=0.3)
    fig.suptitle(f"stagegate scale run: {r.runs} runs waiting at once, then advanced over HTTP")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
