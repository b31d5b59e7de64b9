"""Test helper: send `advance_stage` the way a person does, with the real `temporal workflow signal`."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE


async def temporal_signal(temporal_cli: str, address: str, workflow_id: str, text: str, *, timeout: float = 30) -> None:
    """`temporal workflow signal --name advance_stage --input <text>`; fails the test if the CLI fails."""
    cmd = [
        temporal_cli, "workflow", "signal", "--address", address, "--workflow-id", workflow_id,
        "--name", "advance_stage", "--input", text,
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=PIPE, stderr=PIPE)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
