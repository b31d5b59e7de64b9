"""Scale-out on loopback: 2 workers and 2 callback servers (behind a round-robin balancer) on one task queue.

Both workers must take work, both callback servers must receive callbacks, and no run may be lost.
The numbers print with `-s`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from scripts.scale_out.harness import (
    attribute,
    format_report,
    metric_total,
    run_load,
    scale_out,
    scrape_metrics,
    temporal_metric_lines,
)


async def _scale_run(client: Client, temporal_address: str, log_dir: Path, *, runs: int, wait_timeout: float) -> None:
    stages = 2
    task_queue = f"scale-{uuid.uuid4().hex[:8]}"
    async with scale_out(temporal_address, log_dir, task_queue=task_queue, workers=2, callback_servers=2) as so:
        load = await run_load(client, task_queue, runs=runs, stages=stages, wait_timeout=wait_timeout)
        who = await attribute(so.stack, load.handles)
        metrics = await scrape_metrics(so.stack)
        print(f"\n{format_report(so, load, who, metrics)}")

        # Nothing lost: every run completed, every stage on its first attempt.
        assert load.lost == [], dict(load.failures)
        assert load.stage_problems() == []

        # Both workers took activity tasks and workflow tasks; no task went to anyone else.
        workers = so.stack.workers
        assert all(who.activity_tasks[w] > 0 for w in workers), who.activity_tasks
        assert all(who.workflow_tasks[w] > 0 for w in workers), who.workflow_tasks
        assert set(who.activity_tasks) == set(workers), who.activity_tasks
        assert set(who.workflow_tasks) == set(workers), who.workflow_tasks
        assert sum(who.activity_tasks.values()) == runs * stages

        # Both callback servers got callbacks through the balancer: exactly one per stage, all accepted,
        # and each one's count matches the signals / task-token completions Temporal recorded from it.
        counts = so.callback_counts()
        assert all(n > 0 for n in counts.values()), counts
        assert sum(counts.values()) == runs * stages, counts
        assert {status for _, status in so.balancer.statuses} == {202}, so.balancer.statuses
        assert so.balancer.bad_gateway == 0
        assert {name: who.callbacks_forwarded(name) for name in counts} == counts

        # Each worker serves the SDK's metrics for Prometheus, and they add up to what the histories say.
        for name, text in metrics.items():
            lines = temporal_metric_lines(text)
            assert any(f'task_queue="{task_queue}"' in line for line in lines), f"{name}: {lines[:20]}"
            assert metric_total(text, "temporal_workflow_completed") > 0, name
            assert metric_total(text, "temporal_activity_execution_latency_count") > 0, name
        assert sum(metric_total(t, "temporal_workflow_completed") for t in metrics.values()) == runs


@pytest.mark.timeout(120)
async def test_scale_out_two_workers_two_callback_servers(
    client: Client, temporal_address: str, tmp_path: Path
) -> None:
    await _scale_run(client, temporal_address, tmp_path, runs=40, wait_timeout=60)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_scale_out_soak(client: Client, temporal_address: str, tmp_path: Path) -> None:
    await _scale_run(client, temporal_address, tmp_path, runs=400, wait_timeout=300)
