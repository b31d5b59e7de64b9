"""Runs each job's callback schedule in a background task and owns those tasks until shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import msgspec
import structlog

from service_mock.config import Settings
from service_mock.delivery import Attempt, CallbackSender
from service_mock.events import final_callback, progress_callback
from service_mock.jobs import Job
from service_mock.logs import get_logger
from service_mock.wire import Callback

_log = get_logger(__name__)


def job_logger(job: Job) -> structlog.stdlib.BoundLogger:
    """A logger carrying the fields every line about this job must have."""
    return _log.bind(job_id=job.job_id, idempotency_key=job.request.idempotency_key, action=job.request.action)


class JobRunner:
    """Sends each job's callbacks in order, at their scheduled times, and redirects them on request."""

    def __init__(self, sender: CallbackSender, settings: Settings) -> None:
        self._sender = sender
        self._heartbeat_count = settings.heartbeat_count
        self._heartbeat_interval = settings.heartbeat_interval
        # Strong references: the event loop only keeps weak ones, so an unreferenced task can vanish mid-run.
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active_tasks(self) -> int:
        """Background tasks still running."""
        return len(self._tasks)

    def start(self, job: Job) -> None:
        """Begin the job's schedule now; call this on arrival so early callbacks can beat the HTTP answer."""
        if job.request.action == "ignore":
            job.done = True
            job_logger(job).info("job will never call back (action=ignore)")
            return
        self._spawn(job, self._run(job))

    def retarget(self, job: Job, callback_url: str) -> None:
        """Point the job's callbacks at a new URL; redeliver the final one there if it was already sent."""
        if callback_url == job.callback_url:
            return
        log = job_logger(job)
        log.info("callback target switched", old_url=job.callback_url, new_url=callback_url)
        job.callback_url = callback_url
        # A running schedule reads the URL per attempt and settles the final callback itself before
        # finishing; only a finished job needs a new task to bring the final callback to the new URL.
        if job.done and job.final is not None and callback_url not in job.final_urls:
            job.done = False
            log.info("redelivering final callback to the new target", callback_id=job.final.callback_id)
            self._spawn(job, self._redeliver_final(job))

    async def aclose(self) -> None:
        """Cancel every background task and wait until they are gone."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def _spawn(self, job: Job, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=f"service-mock:{job.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        log = job_logger(job)
        loop = asyncio.get_running_loop()
        is_heartbeat = job.request.action == "heartbeat"
        count = self._heartbeat_count if is_heartbeat else 0
        try:
            for number in range(1, count + 1):
                await _sleep_until(loop, job.due_at + (number - 1) * self._heartbeat_interval)
                event = progress_callback(job, number, count)
                job.progress_sent = number
                await self._deliver(job, event)
            await _sleep_until(loop, job.due_at + count * self._heartbeat_interval)
            job.final = final_callback(job, job.progress_sent)
            await self._settle_final(job)
            job.done = True
            log.info("job finished", deliveries=job.deliveries, failed=job.deliveries_failed, attempts=job.attempts)
        except asyncio.CancelledError:
            log.info("job schedule cancelled (shutdown)")
            raise
        except Exception:
            # Nobody awaits these tasks: log here or the failure disappears.
            log.exception("job schedule crashed")
            job.done = True

    async def _redeliver_final(self, job: Job) -> None:
        log = job_logger(job)
        try:
            await self._settle_final(job)
            log.info("final callback redelivered", attempts=job.attempts)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("final callback redelivery crashed")
        finally:
            job.done = True

    async def _settle_final(self, job: Job) -> None:
        # Loop: the URL may be switched again while the final callback is on its way.
        while job.final is not None and job.callback_url not in job.final_urls:
            job.final_urls.add(await self._deliver(job, job.final))

    async def _deliver(self, job: Job, event: Callback) -> str:
        """Send the event once plus its injected duplicates; return the URL the last attempt went to."""
        log = job_logger(job).bind(callback_id=event.callback_id, status=event.status)
        body = msgspec.json.encode(event)
        last_url = job.callback_url

        def on_attempt(attempt: Attempt) -> None:
            nonlocal last_url
            last_url = attempt.url
            job.record_attempt(attempt)

        job.events_emitted += 1
        if job.request.lose_callbacks:
            log.info("callback lost on purpose (fault injection)")
            return job.callback_url
        copies = 1 + job.request.duplicate_deliveries
        for copy in range(1, copies + 1):
            outcome = await self._sender.send(
                body,
                target=lambda: job.callback_url,
                log=log.bind(copy=copy, copies=copies) if copies > 1 else log,
                on_attempt=on_attempt,
                webhook_id=event.callback_id,
            )
            if outcome == "delivered":
                job.deliveries += 1
            else:
                job.deliveries_failed += 1
        return last_url


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    delay = when - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
