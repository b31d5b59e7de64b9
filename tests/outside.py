"""Test helpers: act on a run from outside, as a person or another SDK does, and check no workflow task failed.

The real `temporal` CLI as a subprocess (bounded, killed by pid on timeout), the pending activity a command
addresses, and the history check every outside-payload test ends with.
"""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType, PendingActivityState, WorkflowTaskFailedCause
from temporalio.client import WorkflowHandle

RESET_BY_OPERATOR = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW


@dataclass(frozen=True)
class CliResult:
    """What one `temporal` command did."""

    returncode: int
    stdout: str
    stderr: str


async def temporal(temporal_cli: str, address: str, *args: str, timeout: float = 30) -> CliResult:
    """Run `temporal <args> --address <address>`; never hangs (killed by pid after `timeout`)."""
    proc = await asyncio.create_subprocess_exec(temporal_cli, *args, "--address", address, stdout=PIPE, stderr=PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return CliResult(proc.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


async def started_activity_id(handle: WorkflowHandle[Any, Any], activity_type: str, *, timeout: float = 30.0) -> str:
    """The activity ID of the run's pending activity of this type, once a worker has started it."""
    async with asyncio.timeout(timeout):
        while True:
            description = await handle.describe()
            for pending in description.raw_description.pending_activities:
                started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                if started and pending.activity_type.name == activity_type:
                    return str(pending.activity_id)
            await asyncio.sleep(0.1)


async def task_failures(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The failure messages of every WorkflowTaskFailed event in the run's history (empty: none failed).

    Not counted: the one `temporal workflow reset` writes itself where it cut the history (cause RESET_WORKFLOW).
    """
    history = await handle.fetch_history()
    return [
        event.workflow_task_failed_event_attributes.failure.message
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and event.workflow_task_failed_event_attributes.cause != RESET_BY_OPERATOR
    ]


@dataclass(frozen=True)
class Answer:
    """What the callback server answered a sender: status code, and the error body's `error` (None on success)."""

    status: int
    code: str | None
    body: dict[str, Any]


async def callback_url(service_url: str, idempotency_key: str, *, timeout: float = 20.0) -> str:
    """The callback URL the service mock holds for the job with this idempotency key (its newest one)."""
    async with httpx.AsyncClient(base_url=service_url) as http, asyncio.timeout(timeout):
        while True:
            jobs = (await http.get("/jobs", params={"idempotency_key": idempotency_key})).json()
            if jobs:
                return str(jobs[0]["callback_url"])
            await asyncio.sleep(0.1)


async def send_callback(url: str, body: dict[str, Any]) -> Answer:
    """POST a callback as a service does; the answer, whatever it is (the body must be JSON)."""
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.post(url, json=body)
    data: dict[str, Any] = response.json()
    return Answer(response.status_code, data.get("error") if response.status_code >= 400 else None, data)
