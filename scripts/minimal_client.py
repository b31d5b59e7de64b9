"""The smallest client that starts one demo run: temporalio and the standard library, nothing of ours.

    python scripts/minimal_client.py --address HOST:PORT --task-queue Q [--wait]

The baseline `scripts/bench_cli.py` puts `cli start` beside: what any Python process pays to import the SDK,
connect and start (and, with --wait, await) one token-mode run of one stage. The input is a plain dict (the
workflow decodes it into its input dataclass), so none of the app's modules are imported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from temporalio.client import Client

WORKFLOW_NAME = "StagedCallbackWorkflow"  # app.demo.payloads.WORKFLOW_NAME, not imported on purpose


async def run(address: str, namespace: str, task_queue: str, *, wait: bool) -> str:
    client = await Client.connect(address, namespace=namespace)
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        {"mode": "token", "stages": 1, "actions": ["complete"], "time_to_request": 0.0, "time_to_callback": 0.0},
        id=f"minimal-client-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
    )
    if wait:
        await handle.result()
    return handle.id


def main() -> None:
    """Entry point; exits without interpreter teardown, like `cli` does (the SDK's runtime threads)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--wait", action="store_true")
    args = parser.parse_args()
    print(asyncio.run(run(args.address, args.namespace, args.task_queue, wait=args.wait)))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
