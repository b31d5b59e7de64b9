"""CPU per signal-mode callback in a running callback server, without a worker: for profiling the HTTP hop.

`python -m scripts.bench.hop_probe --callback-url http://127.0.0.1:PORT --pid PID [--n 3000]` starts a few
workflows on a task queue no worker polls (a signal to a running workflow is recorded all the same), POSTs
`n` signed signal-mode callbacks to them over keep-alive connections, and prints the callback server's CPU
(psutil user + system of `pid`) per callback. Run the callback server under `py-spy record` to see where it goes.
Only the callback server's own work is measured: no worker, no bench sides; the full A/B is `scripts.bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import httpx
import psutil
from temporalio.client import Client

from app.gate.callback_urls import CallbackSigner, CallbackTarget
from app.gate.types import Mode
from app.runtime.config import DEV_SIGNING_SECRET

WORKFLOWS = 10


async def probe(address: str, base_url: str, pid: int, n: int, concurrency: int, secret: str) -> float:
    """CPU milliseconds of `pid` per callback over `n` callbacks (after a warm-up of 200)."""
    client = await Client.connect(address)
    queue = f"hop-probe-{uuid.uuid4().hex[:8]}"
    ids = [f"{queue}-{i}" for i in range(WORKFLOWS)]
    for wf in ids:
        await client.start_workflow("HopProbeNobodyRuns", id=wf, task_queue=queue)
    signer = CallbackSigner(base_url, secret)
    expires = int(time.time()) + 3600
    urls = [signer.url_for(CallbackTarget(Mode.SIGNAL, wf, 1, 1, expires)) for wf in ids]
    proc = psutil.Process(pid)

    async def fire(http: httpx.AsyncClient, count: int) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                body = {"status": "progress", "callback_id": f"c{i}", "progress": i}
                answer = await http.post(urls[i % WORKFLOWS], json=body)
                if answer.status_code != 202:
                    raise RuntimeError(f"callback answered {answer.status_code}: {answer.text[:200]}")

        await asyncio.gather(*(one(i) for i in range(count)))

    try:
        async with httpx.AsyncClient(timeout=10) as http:
            await fire(http, 200)
            before = proc.cpu_times()
            started = time.perf_counter()
            await fire(http, n)
            after = proc.cpu_times()
            wall = time.perf_counter() - started
    finally:
        for wf in ids:
            await client.get_workflow_handle(wf).terminate("hop probe done")
    cpu = (after.user - before.user) + (after.system - before.system)
    per = cpu / n * 1000
    print(f"{n} callbacks in {wall:.1f} s: callback server {cpu:.2f} CPU-s, {per:.3f} CPU ms per callback")
    return per


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--temporal", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--callback-url", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the callback server's pid")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--secret", default=DEV_SIGNING_SECRET, help="the callback server's signing secret")
    args = parser.parse_args()
    asyncio.run(probe(args.temporal, args.callback_url, args.pid, args.n, args.concurrency, args.secret))


if __name__ == "__main__":
    main()
