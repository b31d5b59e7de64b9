"""Malformed HTTP at the callback server (issue 21 item 4) while real callbacks flow: every answer a JSON 400.

    just reliability-row malformed [--tries 20] [--runs-per-mode 4] [--seed 1]

A lab with real runs of every mode whose callbacks arrive while we fire; each class below is sent `--tries` times
over raw sockets (the HTTP parser refuses these before the app sees them). Goal: every answer is a 400 whose
body is the documented JSON error (`malformed_request`), never plain text, never 5xx; every run completes by its
own callbacks. The same inputs are pinned one by one in tests/app/test_callback_connections.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from app.demo.payloads import StagedRunInput
from app.gate.types import Mode
from scripts.reliability.guard_row import GuardRow
from scripts.reliability.lab import lab
from scripts.reliability.tally import server_errors, start_runs, tally, wait_all

COMMAND = "just reliability-row malformed --seed N"
READ_TIMEOUT_S = 30.0
MALFORMED = {
    "non-ASCII request line": "POST /callbacks/signal?wf=é HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "non-ASCII method": "PÖST / HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "no HTTP version": b"POST /callbacks/signal\r\nHost: x\r\n\r\n",
    "garbage request line": b"\x00\x01\x02 hello\r\n\r\n",
    "bad chunk size": (
        b"POST /callbacks/signal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
    "bad content-length": b"POST /callbacks/signal HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    "two content-lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "missing host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "header without colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n",
    "unsupported transfer-encoding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "TLS client hello": bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40,
}
EXPECTED_BODY = {
    "error": "malformed_request",
    "message": "the request is not valid HTTP/1.1 (request line, headers or chunked framing), or its head is too large",
    "status_code": 400,
}


def judge(raw: bytes) -> str:
    """How one answer reads: `json400` (the goal), `5xx`, or what else it was."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        return "no answer" if not raw else "not HTTP"
    status = int(parts[1])
    if status >= 500:
        return "5xx"
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    try:
        parsed = json.loads(body)
    except ValueError:
        return f"{status} not JSON"
    if status == 400 and headers.get("content-type") == "application/json" and parsed == EXPECTED_BODY:
        return "json400"
    return f"{status} other"


async def send(port: int, raw: bytes) -> bytes:
    """Send `raw` on a fresh connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(READ_TIMEOUT_S):
            return await reader.read()
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> GuardRow:
    rng = random.Random(args.seed)  # noqa: S311  # the order of the tries
    inp = StagedRunInput(stages=2, time_to_request=0.05, time_to_callback=args.time_to_callback)
    tries = [(name, raw) for name, raw in MALFORMED.items() for _ in range(args.tries)]
    rng.shuffle(tries)
    by_class: dict[str, Counter[str]] = {name: Counter() for name in MALFORMED}
    async with lab("malformed") as lab_:
        inputs = [replace(inp, mode=m) for m in Mode for _ in range(args.runs_per_mode)]
        handles = await start_runs(lab_.client, lab_.task_queue, inputs)
        port = int(lab_.stack.callback_url.rsplit(":", 1)[1])
        limit = asyncio.Semaphore(args.concurrency)

        async def one(name: str, raw: bytes) -> None:
            async with limit:
                by_class[name][judge(await send(port, raw))] += 1

        await asyncio.gather(*(one(name, raw) for name, raw in tries))
        ends = await wait_all(handles, timeout=args.time_to_callback * 4 + 120)
        errors = server_errors(lab_.service_log)
    t = tally(handles, ends, stages=2)
    answers = sum(by_class.values(), Counter[str]())
    five = answers["5xx"] + sum(n for s, n in errors.items() if s != 503)
    others = sum(n for verdict, n in answers.items() if verdict != "json400")
    return GuardRow(
        fault=f"{len(MALFORMED)} classes of malformed HTTP (non-ASCII request line, bad chunk size, two "
        "Content-Lengths, TLS hello, ...) over raw sockets at the callback server while real callbacks flow",
        tries=f"{len(MALFORMED)} classes x {args.tries} = {len(tries)}; {len(handles)} runs x 2 stages "
        f"({args.runs_per_mode} per mode)",
        expected="every answer 400 with the JSON `malformed_request` body, never plain text or 5xx; every run "
        "completes by its callbacks",
        observed=f"answers {dict(answers)}; {t.completed}/{t.runs} runs completed; stage time p95 "
        f"{t.p95_stage_seconds:g} s",
        lost=t.lost,
        double_advanced=t.double_advanced,
        five_xx=five,
        via_reconcile=f"{t.runs_via_reconcile} runs ({t.stages_via_reconcile} stages)",
        command=COMMAND,
        breaches={"not_a_json_400": others},
        detail={"by_class": {k: dict(v) for k, v in by_class.items()}, "tally": t, "service_5xx": dict(errors)},
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="just reliability-row malformed", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tries", type=int, default=20, help="tries per class (default 20)")
    parser.add_argument("--runs-per-mode", type=int, default=4, help="runs per mode whose callbacks flow (4)")
    parser.add_argument("--time-to-callback", type=float, default=2.0, help="seconds before each callback (2)")
    parser.add_argument("--concurrency", type=int, default=16, help="raw connections in flight (default 16)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    asyncio.run(run(args)).emit()


if __name__ == "__main__":
    main()
