"""How sure a ratio is: the median of paired rounds and its percentile-bootstrap confidence interval.

A shared 2-core machine changes its load within seconds, so one round's ratio says little; the median over
rounds is the figure, and the interval says how far it could move with other rounds of the same kind. The
bootstrap resamples the rounds with replacement (10,000 times, a fixed seed so a report is reproducible from
its own JSON) and takes the 2.5th and 97.5th percentiles of the resampled medians. With few rounds the interval
is honest about being wide: with 7 rounds it can never be narrower than the spread of the middle rounds.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RESAMPLES = 10_000
CONFIDENCE = 0.95
SEED = 22


@dataclass(frozen=True)
class Interval:
    """The median of some rounds and the bootstrap interval around it (NaN when there are no rounds)."""

    median: float
    low: float
    high: float
    rounds: int

    def text(self) -> str:
        """`0.94 [0.88-1.01]`: the form every table uses."""
        if self.rounds == 0:
            return "-"
        return f"{self.median:.2f} [{self.low:.2f}-{self.high:.2f}]"


def bootstrap_median(
    values: Sequence[float], *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED
) -> Interval:
    """The median of `values` and its percentile-bootstrap interval at `confidence`."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return Interval(math.nan, math.nan, math.nan, 0)
    rng = random.Random(seed)  # noqa: S311  # resampling, not secrets: a fixed seed makes reports reproducible
    size = len(finite)
    medians = sorted(statistics.median(rng.choices(finite, k=size)) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return Interval(
        median=statistics.median(finite),
        low=_quantile(medians, tail),
        high=_quantile(medians, 1 - tail),
        rounds=size,
    )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default), on sorted values."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
