"""Scale-out on loopback: N workers and M callback servers behind a round-robin balancer, one load run.

    just scale-out [--runs 100] [--workers 2] [--callback-servers 2] [--stages 2]
    (= uv run python -m scripts.scale_out ...)

Starts its own Temporal dev server (the CLI that scripts/setup_temporal.sh finds), the service mock,
the callback servers, the balancer in front of them (every worker's CALLBACK_BASE_URL points at it)
and the workers, all on free loopback ports; runs the load (half signal mode, half token mode);
prints who did what (from the workflow histories and the balancer's counts) and an excerpt of one
worker's Prometheus metrics; then stops everything it started. Exit code 0 when no run was lost and
every worker and every callback server took work, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from scripts.scale_out.harness import (
    attribute,
    format_report,
    run_load,
    scale_out,
    scrape_metrics,
    temporal_metric_lines,
)
from scripts.stack.dev_server import DevServer, connect
from scripts.stack.processes import ROOT, find_temporal_cli, free_port

LOG_DIR = ROOT / ".state" / "scale-out"
METRICS_EXCERPT = (
    "temporal_worker_start",
    "temporal_workflow_completed",
    "temporal_workflow_endtoend_latency_count",
    "temporal_workflow_task_execution_latency_count",
    "temporal_workflow_task_schedule_to_start_latency_count",
    "temporal_activity_task_received",
    "temporal_activity_execution_latency_count",
    "temporal_activity_schedule_to_start_latency_count",
    "temporal_num_pollers",
    "temporal_worker_task_slots_used",
    "temporal_sticky_cache_size",
    "temporal_request",
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scale_out", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100, help="concurrent runs, half per mode (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--callback-servers", type=int, default=2, help="callback server processes (default 2)")
    parser.add_argument("--stages", type=int, default=2, help="stages per run (default 2)")
    parser.add_argument("--time-to-request", type=float, default=0.05, help="seconds (default 0.05)")
    parser.add_argument("--time-to-callback", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--timeout", type=float, default=300.0, help="max seconds to wait for the runs (default 300)")
    args = parser.parse_args(argv)
    for name in ("runs", "workers", "callback_servers", "stages"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _excerpt(text: str) -> list[str]:
    """The samples of a few SDK metrics (counters and histogram counts, every label set), at most 15 lines."""
    lines = temporal_metric_lines(text)
    picked: list[str] = []
    for name in METRICS_EXCERPT:
        picked.extend(line for line in lines if line.split("{", 1)[0].split(" ", 1)[0] == name)
    return picked[:15]


async def _main(args: argparse.Namespace) -> int:
    print("starting a Temporal dev server ...", flush=True)
    server = DevServer(cli=find_temporal_cli(), port=free_port(), log_dir=LOG_DIR)
    ok = False
    try:
        await asyncio.to_thread(server.start)
        address = server.address
        client = await connect(address)
        task_queue = f"scale-{uuid.uuid4().hex[:8]}"
        print(
            f"dev server {address}; starting service mock, {args.callback_servers} callback servers, "
            f"the balancer and {args.workers} workers (logs: {LOG_DIR}) ...",
            flush=True,
        )
        async with scale_out(
            address, LOG_DIR, task_queue=task_queue, workers=args.workers, callback_servers=args.callback_servers
        ) as so:
            print(
                f"callback base URL of every worker: {so.balancer.url} -> {', '.join(so.stack.callback_urls.values())}"
            )
            print(f"running {args.runs} runs x {args.stages} stages on task queue {task_queue} ...\n", flush=True)
            load = await run_load(
                client,
                task_queue,
                runs=args.runs,
                stages=args.stages,
                time_to_request=args.time_to_request,
                time_to_callback=args.time_to_callback,
                wait_timeout=args.timeout,
            )
            who = await attribute(so.stack, load.handles)
            metrics = await scrape_metrics(so.stack)
            print(format_report(so, load, who, metrics))
            first = so.stack.workers[0]
            print(f"\n{so.stack.metrics_urls[first]} (excerpt):")
            for line in _excerpt(metrics[first]):
                print(f"  {line}")
            ok = (
                not load.lost
                and not load.stage_problems()
                and all(who.activity_tasks[w] > 0 and who.workflow_tasks[w] > 0 for w in so.stack.workers)
                and all(n > 0 for n in so.callback_counts().values())
            )
            print("\nstopping everything ...", flush=True)
    finally:
        await asyncio.to_thread(server.stop)
    print("OK: no run lost, every worker and every callback server took work" if ok else "FAILED: see above")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point: `python -m scripts.scale_out` (`just scale-out`)."""
    args = _parse(argv)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    try:
        code = asyncio.run(_main(args))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
