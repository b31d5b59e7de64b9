"""A reliability lab: its own Temporal dev server (a subprocess on its own SQLite file), the stack, a client.

Every reliability row (`scripts/reliability/*.py`, `just reliability`) runs in a fresh lab on free loopback
ports, and everything the lab started is stopped by pid at the end, also when the row fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from scripts.stack.dev_server import DevServer, connect
from scripts.stack.processes import ROOT, find_temporal_cli, free_port
from scripts.stack.services import Stack, local_stack

LAB_ROOT = ROOT / ".state" / "reliability"
# The service mock's own retry defaults, not the quick ones the tests use: what a user of `just up` gets.
MOCK_DEFAULTS = {
    "SERVICE_CALLBACK_BACKOFF_INITIAL": "",
    "SERVICE_CALLBACK_BACKOFF_MAX": "",
    "SERVICE_HEARTBEAT_INTERVAL": "",
}


@dataclass
class Lab:
    """One row's world."""

    server: DevServer
    client: Client
    stack: Stack
    log_dir: Path

    @property
    def task_queue(self) -> str:
        return self.stack.settings.task_queue

    @property
    def service_log(self) -> Path:
        return self.log_dir / "service_mock.log"


@asynccontextmanager
async def lab(name: str, *, workers: int = 1, extra_env: dict[str, str] | None = None) -> AsyncIterator[Lab]:
    """Start a dev server, the stack and a client for row `name`; stop them all on exit.

    `extra_env` goes to every process of the stack (e.g. the workers' `STAGEGATE_EGRESS_HOSTS`).
    """
    # The pid too: two rows of one name started in the same second must not share a SQLite file.
    log_dir = LAB_ROOT / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    server = DevServer(cli=find_temporal_cli(), port=free_port(), log_dir=log_dir, db_file=log_dir / "temporal.db")
    stack: Stack | None = None
    try:
        await asyncio.to_thread(server.start)
        client = await connect(server.address)
        stack = await asyncio.to_thread(
            local_stack,
            server.address,
            log_dir,
            task_queue=f"rel-{uuid.uuid4().hex[:8]}",
            signing_secret=secrets.token_hex(32),
            workers=workers,
            extra_env={**MOCK_DEFAULTS, **(extra_env or {})},
        )
        print(f"[{name}] lab up: temporal {server.address}, logs {log_dir}", flush=True)
        yield Lab(server=server, client=client, stack=stack, log_dir=log_dir)
    finally:
        if stack is not None:
            await asyncio.to_thread(stack.stop)
        await asyncio.to_thread(server.stop)
