"""The bench's load average "at the start" is read before the run starts anything, and the end's beside it.

The JSON's `load_average_at_start` is what BENCHMARKS.md quotes for each run; it was once read when the results
were written, at the end, where a shared machine's load can be several times the start's. Here the stack start
is replaced by a stop right where the stack would begin (nothing is measured), so the order of the two calls is
what the tests see; `machine()` is checked for carrying the start's figure unchanged.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from scripts.bench import compare, scale
from scripts.bench.compare import Outputs, machine, run_compare
from scripts.bench.runner import BenchPlan
from scripts.bench.scale import ScalePlan, run_scale
from scripts.bench.sides import parse_sides

START_LOAD = [1.25, 2.5, 3.75]


class StackStartedError(Exception):
    """Raised where the bench would start its stack: the test has seen what it came for."""


def _record(calls: list[str]) -> tuple[Any, Any]:
    def load() -> list[float]:
        calls.append("load")
        return START_LOAD

    async def stack(*_args: object, **_kwargs: object) -> None:
        calls.append("stack")
        raise StackStartedError

    return load, stack


@pytest.mark.integration  # platform.platform() runs `uname -p` on Linux
def test_machine_keeps_the_start_load_it_is_given_and_reads_the_end_load() -> None:
    recorded = machine(START_LOAD)
    assert recorded["load_average_at_start"] == START_LOAD
    end = recorded["load_average_at_end"]
    assert isinstance(end, list)
    assert len(end) == 3


@pytest.mark.integration  # the stub service listens on a loopback socket before the stack would start
async def test_compare_reads_the_load_before_it_starts_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    load, stack = _record(calls)
    monkeypatch.setattr(compare, "load_average", load)
    monkeypatch.setattr(compare, "start_bench_stack", stack)
    with pytest.raises(StackStartedError):
        await run_compare(
            BenchPlan(),
            parse_sides("p0-signal"),
            Outputs.under(tmp_path, "results"),
            Console(file=io.StringIO()),
            log_dir=tmp_path,
        )
    assert calls == ["load", "stack"]


@pytest.mark.integration  # as above
async def test_scale_reads_the_load_before_it_starts_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    load, stack = _record(calls)
    monkeypatch.setattr(scale, "load_average", load)
    monkeypatch.setattr(scale, "start_bench_stack", stack)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its log folder: under tmp_path, not /tmp
    with pytest.raises(StackStartedError):
        await run_scale(ScalePlan(runs=1), Outputs.under(tmp_path, "scale"), Console(file=io.StringIO()))
    assert calls == ["load", "stack"]
