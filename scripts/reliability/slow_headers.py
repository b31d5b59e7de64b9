"""Slow-header connections at the callback server while real callbacks flow (issue 21 item 3): the table row.

    just reliability-row slow_headers [--slow 500] [--runs 60] [--header-timeout 5] [--seed 1]

Reuses `scripts/slow_clients.py` (`just slow-clients`): `--slow` connections each send half a request head and
then a byte a second; meanwhile every run's callback is POSTed to its signed URL. Goal: every slow connection
closed within the header timeout (+1 s), callbacks p99 < 1 s, every run completed, no 5xx. The experiment has no
random part: `--seed` only numbers the run. `--server-header-timeout 30` breaks the rule on purpose (the server
is given a longer timeout than the row judges by) to show the row fails.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from scripts.reliability.guard_row import GuardRow
from scripts.reliability.lab import LAB_ROOT
from scripts.slow_clients import SLACK_S, measure

COMMAND = "just reliability-row slow_headers --seed N"


def row(args: argparse.Namespace, report: dict[str, object], ok: bool) -> GuardRow:
    """The table row from the slow-clients report."""
    closed = int(report["slow_closed"])  # type: ignore[call-overload]
    within = int(report["slow_closed_within_timeout_plus_1s"])  # type: ignore[call-overload]
    latency: dict[str, float] = report["callback_latency_s"]  # type: ignore[assignment]
    close_after: dict[str, float] = report["slow_close_after_s"]  # type: ignore[assignment]
    statuses: dict[int, int] = report["callback_statuses"]  # type: ignore[assignment]
    completed = int(report["runs_completed"])  # type: ignore[call-overload]
    return GuardRow(
        fault=f"{args.slow} connections that send half a request head, then a byte a second, at the callback "
        f"server (`CALLBACK_HEADER_TIMEOUT` {args.header_timeout:g} s) while real callbacks flow",
        tries=f"{args.slow} slow connections; {args.runs} runs' callbacks, {args.concurrency} at a time",
        expected=f"every slow connection closed within {args.header_timeout:g} s (+{SLACK_S:g} s); callbacks p99 "
        "< 1 s; every run completes",
        observed=f"{closed}/{args.slow} closed, {within} within the timeout, after {close_after['min']}-"
        f"{close_after['max']} s; callbacks p50 {latency['p50']} s, p99 {latency['p99']} s, max {latency['max']} s, "
        f"answers {statuses}; {completed}/{args.runs} runs completed",
        lost=args.runs - completed,
        double_advanced=0,
        five_xx=sum(n for s, n in statuses.items() if int(s) >= 500 and int(s) != 503),
        via_reconcile="- (signal-mode pipeline stages, no reconcile)",
        command=COMMAND,
        breaches={
            "slow_not_closed_in_time": args.slow - within,
            "callbacks_p99_over_1s": int(latency["p99"] >= 1.0),
            "goals_missed": int(not ok),
        },
        detail={"report": report},
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="just reliability-row slow_headers", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--slow", type=int, default=500, help="slow-header connections (default 500)")
    parser.add_argument("--runs", type=int, default=60, help="runs whose callback is sent meanwhile (default 60)")
    parser.add_argument("--concurrency", type=int, default=10, help="callbacks in flight at once (default 10)")
    parser.add_argument("--header-timeout", type=float, default=5.0, help="CALLBACK_HEADER_TIMEOUT (default 5 s)")
    parser.add_argument("--server-header-timeout", type=float, help="break the rule: give the server this one")
    parser.add_argument("--seed", type=int, default=1, help="numbers the run (nothing random)")
    args = parser.parse_args(argv)
    args.log_dir = str(LAB_ROOT / f"slow_headers-{time.strftime('%Y%m%d-%H%M%S')}")
    report, ok = asyncio.run(measure(args))
    row(args, report, ok).emit()


if __name__ == "__main__":
    main()
