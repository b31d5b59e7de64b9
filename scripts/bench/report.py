"""The benchmark's numbers as markdown tables (written next to the JSON, and shown in the terminal)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markdown import Markdown

from scripts.bench.results import PHASE_C1, PHASE_SATURATION, PROCESSES, BenchResults, SideSummary, Spread


def _f(value: float, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _processes(results: BenchResults) -> list[str]:
    seen = {name for s in results.summaries for name in s.cpu_s_per_1000_advances}
    # The known ones in their order, then any other (a cluster's: postgres, temporal_history, ...).
    return [p for p in PROCESSES if p in seen] + sorted(seen - set(PROCESSES))


def _ratio(results: BenchResults, s: SideSummary) -> str:
    ratio = next((r for r in results.ratios if r.side == s.side), None)
    if s.via == "sdk":
        return "1.00 (P0)"
    if ratio is None:
        return "-"
    rounds = ratio.throughput_ratio_rounds
    return f"{ratio.interval.text()} ({min(rounds):.2f}-{max(rounds):.2f})" if rounds else "-"


def _capacity(results: BenchResults, s: SideSummary) -> str:
    ratio = next((r for r in results.ratios if r.side == s.side), None)
    return "1.00 (P0)" if s.via == "sdk" else "-" if ratio is None else _f(ratio.capacity_ratio, 2)


def markdown_report(results: BenchResults) -> str:
    """Saturation, concurrency 1, history cost, answers, goals."""
    plan = results.meta.get("plan", {})
    procs = _processes(results)
    out = [
        f"Plan: {plan.get('stages')} stages per run; concurrency 1: {plan.get('c1_rounds')} rounds x "
        f"{plan.get('c1_runs')} runs per side, callback {1000 * float(plan.get('callback_delay', 0)):g} ms after "
        f"the request; saturation: {plan.get('sat_rounds')} rounds x {plan.get('concurrency')} runs at once per "
        f"side, callback at once. Orders rotate every round. `vs P0`: the median over "
        "rounds of the side's advances/s over P0's (same mode, same round), [its 95 % bootstrap interval] and "
        "(the range of the rounds); `vs P0 by CPU`: P0's CPU seconds per "
        "advance (all processes) over the side's, what a CPU-bound machine would give; CPU in seconds per 1,000 "
        "advances. A mode's sides run back to back (at concurrency 1 run by run).",
        "",
        "### Saturation: throughput, latency, CPU per 1,000 advances",
        "",
    ]
    rows = []
    for s in (x for x in results.summaries if x.phase == PHASE_SATURATION):
        cpu = s.cpu_s_per_1000_advances
        total = sum(v for v in cpu.values() if not math.isnan(v))
        rows.append(
            [
                s.label,
                f"{s.completed}/{s.runs}",
                _f(s.advances_per_s),
                _ratio(results, s),
                _capacity(results, s),
                _f(s.latency_ms.p50),
                _f(s.latency_ms.p95),
                _f(s.latency_ms.p99),
                *(_f(cpu.get(p, math.nan), 2) for p in procs),
                _f(total, 2),
            ]
        )
    head = ["side", "runs done", "advances/s", "vs P0 [95 % CI] (rounds)", "vs P0 by CPU", "p50 ms", "p95 ms", "p99 ms"]
    out += _table([*head, *(f"CPU s {p}" for p in procs), "CPU s total"], rows)
    out += ["", "### Concurrency 1: callback-to-advance latency (ms)", ""]
    rows = []
    for s in (x for x in results.summaries if x.phase == PHASE_C1):
        ratio = next((r for r in results.ratios if r.side == s.side), None)
        rows.append(
            [
                s.label,
                f"{s.completed}/{s.runs}",
                str(s.latency_ms.n),
                _f(s.latency_ms.p50),
                _f(s.latency_ms.p95),
                _f(s.latency_ms.p99),
                _f(s.hop_ms.p50),
                "-" if ratio is None else f"{ratio.added_p50_ms_c1:+.1f}",
            ]
        )
    out += _table(["side", "runs done", "stages", "p50", "p95", "p99", "hop p50", "added p50 vs P0"], rows)
    out += ["", "### Peak RSS (MB) over the saturation phase", ""]
    rows = [
        [s.label, *(_f(s.peak_rss_mb.get(p, math.nan), 0) for p in procs)]
        for s in results.summaries
        if s.phase == PHASE_SATURATION
    ]
    out += _table(["side", *procs], rows)
    out += ["", "### History per stage (whole history / stages, sampled runs)", ""]
    labels = {s.side: s.label for s in results.summaries}
    rows = [
        [labels.get(h.side, h.side), str(h.runs_sampled), _f(h.events_per_stage), _f(h.bytes_per_stage, 0)]
        for h in results.history
    ]
    out += _table(["side", "runs", "events/stage", "bytes/stage"], rows)
    out += ["", "### Answers to the callbacks the bench fired (every attempt)", ""]
    out += _table(["side and answer", "count"], [[k, str(v)] for k, v in results.answers.items()])
    out += _servers_ab(results)
    if results.shape_ratios:
        out += ["", "### Foreign callback body (through a callback shape) vs stagegate's own body, saturation", ""]
        out += [
            "Per mode, the two sides ran back to back in every round; median (range) over the rounds. CPU: the "
            "callback server's CPU milliseconds per advance. Ratios are per round: foreign advances/s over own, "
            "and own CPU per advance over foreign (>= 0.95 is the goal for both).",
            "",
        ]
        rows = [
            [
                r.mode,
                r.own_advances_per_s.text(1),
                r.foreign_advances_per_s.text(1),
                r.throughput_ratio.text(),
                r.own_server_cpu_ms.text(),
                r.foreign_server_cpu_ms.text(),
                r.server_capacity_ratio.text(),
                str(r.throughput_ratio.rounds),
            ]
            for r in results.shape_ratios
        ]
        out += _table(
            [
                "mode",
                "own body advances/s",
                "foreign body advances/s",
                "foreign / own",
                "own: server CPU ms/advance",
                "foreign: server CPU ms/advance",
                "own / foreign CPU",
                "rounds",
            ],
            rows,
        )
    out += ["", "### Goals", ""]
    out += _table(
        ["goal", "measured", "met"], [[g.goal, g.measured, "yes" if g.met else "**no**"] for g in results.goals]
    )
    return "\n".join(out) + "\n"


def _servers_ab(results: BenchResults) -> list[str]:
    """A/B runs: each callback server's CPU per advance, per mode, over the rounds, and the per-round ratio."""
    sat = {s.side: s for s in results.summaries if s.phase == PHASE_SATURATION}
    rows = []
    for key, b in sat.items():
        a = sat.get(key.removesuffix("-b")) if key.endswith("-b") else None
        if a is None:
            continue
        pairs = zip(a.callback_server_cpu_ms_rounds, b.callback_server_cpu_ms_rounds, strict=False)
        ratios = Spread.of([x / y for x, y in pairs if y and not math.isnan(y)])
        a_ms, b_ms = Spread.of(a.callback_server_cpu_ms_rounds), Spread.of(b.callback_server_cpu_ms_rounds)
        rows.append([a.mode, a_ms.text(), b_ms.text(), ratios.text(), str(ratios.rounds)])
    if not rows:
        return []
    out = ["", "### Callback server A vs B: CPU ms per advance, saturation", ""]
    out += [
        "Each server's CPU milliseconds per advance of the side whose callbacks it took, median (range) over the "
        "rounds; A / B per round (the two sides of a mode run back to back in every round).",
        "",
    ]
    return out + _table(["mode", "server A", "server B", "A / B (per round)", "rounds"], rows)


def print_summary(results: BenchResults, console: Console) -> None:
    """The markdown tables, rendered for a terminal."""
    console.print(Markdown(markdown_report(results)))
