"""PNG plots of what the benchmark measured (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a CI machine

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from scripts.bench.results import PHASE_C1, PHASE_SATURATION, BenchResults
from scripts.bench.sides import BY_KEY, Via

_STYLE = {Via.SDK: "-", Via.HTTP: "--", Via.SERVICE_MOCK: ":"}
_COLOUR = {"signal": "tab:blue", "token": "tab:orange", "update": "tab:green"}
_TITLES = {PHASE_C1: "concurrency 1", PHASE_SATURATION: "saturation"}


def plot_latencies(results: BenchResults, path: Path) -> None:
    """Callback-to-advance latency as a cumulative distribution per side, one panel per phase."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    for ax, phase in zip(axes, (PHASE_C1, PHASE_SATURATION), strict=True):
        for key, samples in results.latencies_ms.get(phase, {}).items():
            values = sorted(v for v in samples if v > 0)
            if not values:
                continue
            side = BY_KEY[key]
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            ax.step(
                values,
                fractions,
                where="post",
                linestyle="-." if side.server == "b" else _STYLE[side.via],
                color=_COLOUR[side.mode.value],
                label=side.label,
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())  # log-axis minor labels collide on a narrow range
        ax.set_xlabel("callback -> workflow advanced (ms, log scale)")
        ax.set_ylabel("fraction of stages")
        ax.set_title(f"{_TITLES[phase]}")
        ax.grid(visible=True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(
        "stagegate: callback-to-advance latency per side\n"
        "(solid: SDK, dashed: HTTP, dash-dot: HTTP to callback server B, dotted: service mock)"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
