"""CPU seconds and memory of the stack's processes (psutil on their pids), sampled in the background."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class Sample:
    """One look at every process: wall time (time.monotonic), CPU seconds so far and RSS bytes per name."""

    at: float
    cpu: dict[str, float]
    rss: dict[str, int]


@dataclass
class Sampler:
    """Samples the named pids (and this process, as `bench`) every `interval` seconds while running.

    For the names in `trees` the process's children count too (PostgreSQL: one backend process per connection):
    CPU is the live children's plus what the parent's exited (reaped) children used, so it never steps back when a
    backend exits; memory is their PSS, not RSS: shared memory (PostgreSQL's shared buffers) is counted once,
    split among the processes that map it, instead of once per backend.
    """

    pids: dict[str, int]
    interval: float = 0.5
    trees: frozenset[str] = frozenset()
    samples: list[Sample] = field(default_factory=list)
    _procs: dict[str, psutil.Process] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._tree_cpu: dict[str, float] = {}
        self._procs = {name: psutil.Process(pid) for name, pid in {**self.pids, "bench": os.getpid()}.items()}

    def take(self) -> Sample:
        """Sample now (processes that have gone are left out)."""
        cpu: dict[str, float] = {}
        rss: dict[str, int] = {}
        for name, proc in self._procs.items():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu[name] = times.user + times.system
                    tree = name in self.trees
                    if tree:
                        cpu[name] += times.children_user + times.children_system
                    rss[name] = proc.memory_full_info().pss if tree else proc.memory_info().rss
                    children = proc.children(recursive=True) if tree else []
            except psutil.Error:
                continue
            for child in children:
                try:
                    with child.oneshot():
                        times = child.cpu_times()
                        cpu[name] += times.user + times.system
                        rss[name] += child.memory_full_info().pss
                except psutil.Error:
                    continue
        # A child that exits between reading it and reading its parent's reaped-children times is missed for one
        # sample: a tree's CPU is cumulative, so hold its last value rather than step back.
        for name in self.trees & cpu.keys():
            cpu[name] = max(cpu[name], self._tree_cpu.get(name, 0.0))
            self._tree_cpu[name] = cpu[name]
        sample = Sample(time.monotonic(), cpu, rss)
        self.samples.append(sample)
        return sample

    async def __aenter__(self) -> Sampler:
        self.take()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.take()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.take()

    def peak_rss(self, start: float, end: float) -> dict[str, int]:
        """Largest RSS of each process among the samples taken in [start, end]."""
        peak: dict[str, int] = {}
        for sample in self.samples:
            if start <= sample.at <= end:
                for name, rss in sample.rss.items():
                    peak[name] = max(peak.get(name, 0), rss)
        return peak


def cpu_delta(before: Sample, after: Sample) -> dict[str, float]:
    """CPU seconds each process used between two samples."""
    return {name: after.cpu[name] - before.cpu[name] for name in after.cpu if name in before.cpu}
