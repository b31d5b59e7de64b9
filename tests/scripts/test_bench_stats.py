"""The bench's confidence intervals: the median of paired rounds and its percentile bootstrap."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from scripts.bench.stats import bootstrap_median


def test_median_and_interval_of_known_rounds() -> None:
    rounds = [0.94, 0.91, 1.02, 0.88, 0.97, 0.95, 0.99]
    got = bootstrap_median(rounds)
    assert got.median == pytest.approx(0.95)
    assert got.rounds == 7
    assert min(rounds) <= got.low <= got.median <= got.high <= max(rounds)
    # The middle five rounds' range bounds where a 95 % interval of the median can sit.
    assert 0.88 <= got.low <= 0.94
    assert 0.95 <= got.high <= 1.02
    assert got.text() == f"0.95 [{got.low:.2f}-{got.high:.2f}]"


def test_same_seed_same_interval_and_identical_rounds_have_none() -> None:
    rounds = [1.1, 0.7, 0.9, 1.3, 0.8]
    assert bootstrap_median(rounds) == bootstrap_median(rounds)
    flat = bootstrap_median([0.9] * 7)
    assert (flat.low, flat.median, flat.high) == (0.9, 0.9, 0.9)


def test_wider_spread_gives_a_wider_interval() -> None:
    tight = bootstrap_median([0.95, 0.96, 0.94, 0.95, 0.96, 0.95, 0.94])
    loose = bootstrap_median([0.95, 0.66, 1.63, 0.95, 0.80, 1.20, 0.90])
    assert loose.high - loose.low > 5 * (tight.high - tight.low)


def test_coverage_on_a_known_distribution() -> None:
    """About 95 % of intervals from 7 draws hold the true median (the percentile bootstrap runs a bit narrow)."""
    rng = random.Random(1)
    hits = 0
    trials = 300
    for trial in range(trials):
        draws = [rng.gauss(1.0, 0.1) for _ in range(7)]
        got = bootstrap_median(draws, resamples=500, seed=trial)
        hits += got.low <= 1.0 <= got.high
    assert 0.85 <= hits / trials <= 1.0


def test_no_rounds_or_nan_rounds() -> None:
    empty = bootstrap_median([])
    assert empty.rounds == 0
    assert math.isnan(empty.median)
    assert empty.text() == "-"
    assert bootstrap_median([math.nan, 1.0, 3.0]).median == statistics.median([1.0, 3.0])
