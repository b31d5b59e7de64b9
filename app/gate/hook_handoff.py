"""The token-mode hand-off check of a stage that waits on a fixed endpoint: is the stage registered with its mailbox?

A token-mode hook stage's activity makes its request, registers the stage with the key's mailbox
(`mailbox_client.register_waiter`), then hands off (`raise_complete_async`). A worker that dies between the request
and a registration that landed leaves an activity nobody will ever complete: it has no heartbeat timeout and its
start-to-close is the stage's budget. The gate's hand-off check (`StageGate._confirm_handoff`, patch
`stagegate-hook-handoff-check`) therefore asks, after `handoff_check` without a callback, whether THIS stage's
hand-off completed; if not, it cancels the activity and requests again, as the reconcile-based check does.

How "registered" is known, and why this way:

- The stage activity, once its registration has landed, records ONE heartbeat on itself whose details are a
  `HookRegistered` (source, key, stage, attempt), by an awaited RPC (`AsyncActivityHandle.heartbeat`), and only
  then hands off. Heartbeat details are kept on the pending activity (and across its retries, hence the attempt).
- The check activity (`check_hook_handoff`) reads the gate's run with `describe()` (strongly consistent: the
  history service's own state, not visibility) and looks at the stage's pending activity, by the activity ID the
  gate gave it: its details carry the mark for its current attempt -> registered; it is no longer pending -> it
  has closed and the gate gets its result anyway; otherwise -> the attempt never completed its hand-off.

Asking the mailbox itself (its `mailbox_status` query by `mailbox_id(source, key)`) was the alternative. It needs
the key, which the workflow does not know when it comes from the vendor's answer (`key_path`, `report_hook_key`):
a token activity never returns, so the key never reaches the history. The mark works the same for a key given up
front and one read from the answer, needs no worker of the mailbox to answer a query, and needs no reconcile
activity (none from the user at all). Its one blind spot: a worker that dies after the registration landed but
before the mark did. The check then requests again (same idempotency key); the new activity registers again and
replaces the waiter, so the key's later events reach the new activity. Only an event delivered to the old
activity in the moment between the cancellation and the new registration is lost to the stage, which then ends
at its deadline as before (two faults in a row, each needing a narrow window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import AsyncActivityCancelledError
from temporalio.service import RPCError

from app.gate import mailbox_client
from app.gate.hook_types import ACTIVITY_HOOK_HANDOFF_CHECK, HOOK_REGISTERED_KIND, HookHandoffCheck, HookRegistered
from app.gate.types import StageCheck

# One heartbeat call's deadline (transient errors are tried again until the registration's own limit).
MARK_RPC_TIMEOUT = timedelta(seconds=10)


def registered(details: Sequence[Any], *, stage: str, attempt: int) -> bool:
    """True when a pending stage activity's heartbeat details mark its current attempt as registered.

    `details` are the decoded heartbeat details (JSON objects come back as dicts). An earlier attempt's mark does
    not count: details outlive an attempt, and a later attempt must register again.
    """
    for value in details:
        if (
            isinstance(value, dict)
            and value.get("kind") == HOOK_REGISTERED_KIND
            and value.get("stage") == stage
            and value.get("attempt") == attempt
        ):
            return True
    return False


async def mark_registered(marker: HookRegistered, *, until_epoch: float) -> bool:
    """Stage activity side: record the mark on the running activity (awaited, so durable once this returns).

    Transient Temporal trouble is tried again until `until_epoch`. False when the mark could not be recorded:
    the hand-off check will then find none and request again (same idempotency key), which is safe.
    """
    info = activity.info()
    handle = activity.client().get_async_activity_handle(task_token=info.task_token)
    try:
        await mailbox_client.retry_until(
            lambda: handle.heartbeat(marker, rpc_timeout=MARK_RPC_TIMEOUT),
            until_epoch=until_epoch,
            what=f"mark {marker.source} key {marker.key} registered",
        )
    except (RPCError, AsyncActivityCancelledError) as err:
        structlog.get_logger(__name__).warning(
            "stage registered with its hook key, but not marked so; the hand-off check will request again",
            hook_source=marker.source,
            hook_key=marker.key,
            error=str(err),
        )
        return False
    return True


@activity.defn(name=ACTIVITY_HOOK_HANDOFF_CHECK)
async def check_hook_handoff(check: HookHandoffCheck) -> StageCheck:
    """Is the stage's token activity registered with its mailbox? `job_found` says so (the gate's reconcile answer).

    Register it on every worker that runs workflows with token-mode stages waiting on a source. Not registered
    there, the check fails and the gate keeps waiting as it did before the check existed.
    """
    client = activity.client()
    description = await client.get_workflow_handle(check.workflow_id, run_id=check.run_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_id != check.activity_id:
            continue
        details = await client.data_converter.decode_wrapper(pending.heartbeat_details)
        found = registered(details, stage=check.stage, attempt=pending.attempt)
        if not found:
            activity.logger.warning(
                "stage %s: its activity %s (attempt %d) never registered with its hook key",
                check.stage,
                check.activity_id,
                pending.attempt,
            )
        return StageCheck(job_found=found)
    # No longer pending: completed, failed or timed out. The gate reads that outcome from the activity itself.
    return StageCheck(job_found=True)
