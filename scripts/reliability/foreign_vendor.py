"""Three services that speak their own callback bodies, for the foreign-body reliability row (a bare ASGI app).

    POST /replicate/v1/predictions   {"input": {...}, "webhook"}        -> 201 prediction; JSON events, `webhook-id`
    POST /assembly/v2/transcript     {"audio_url", "webhook_url", ...}  -> 200 {"id", "status": "queued"}; a notify
    GET  /assembly/v2/transcript/ID                                     -> the transcript (fetched after the notify)
    POST /twilio/Messages.json       {"To", "Body", "StatusCallback"}   -> 201 {"sid"}; form-encoded status events

Every job reports to the URL it was given, in its vendor's own shape, following a delivery plan picked by the
request (`plan`): normal; duplicate (every event twice, byte for byte); early (all events before the request is
answered); out of order (the final event first, a progress event after it, the final again a second later).
Deliveries retry like a vendor's (connection errors, 429, 5xx; never another 4xx) and every answer is counted.
Written for this row, from the vendors' public descriptions; stagegate's own body appears nowhere.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import httpx

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SEND_BUDGET_SECONDS = 90.0  # a vendor retries a webhook for a while, then gives up
EARLY_WAIT_SECONDS = 3.0  # early plan: how long the request's answer waits for the events to be taken


class Style(StrEnum):
    """The vendor styles of issue 19."""

    REPLICATE = "replicate"  # per-request webhook, the whole prediction object, progress events, event-ID header
    ASSEMBLY = "assembly"  # a bare notify; the result is fetched with a GET
    TWILIO = "twilio"  # form-encoded status callbacks, progress events, no event ID


class Plan(StrEnum):
    """How a job's events are delivered."""

    NORMAL = "normal"
    DUPLICATE = "duplicate"
    EARLY = "early"
    OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True)
class Event:
    """One webhook delivery: its bytes and headers (a repeat sends the very same)."""

    label: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Job:
    """One request the vendor took: who asked (run and stage), where it reports, what its final result is."""

    style: Style
    id: str
    run: str
    stage: str
    plan: Plan
    url: str
    fetches: int = 0


@dataclass
class ForeignVendors:
    """The three vendors' state; the ASGI app is the instance itself."""

    jobs: dict[str, Job] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)  # "<style> <event label> <status>" (0: no answer)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    http: httpx.AsyncClient | None = None

    def jobs_of(self, run: str, stage: str) -> list[Job]:
        """Every job made for one stage of one run (a retried request makes another)."""
        return [job for job in self.jobs.values() if job.run == run and job.stage == stage]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        method, path = scope["method"], scope["path"]
        if method == "GET" and path.startswith("/assembly/v2/transcript/"):
            await self._transcript(send, path.rsplit("/", 1)[-1])
            return
        routes = {
            "/replicate/v1/predictions": self._predict,
            "/assembly/v2/transcript": self._transcribe,
            "/twilio/Messages.json": self._message,
        }
        handler = routes.get(path)
        if method != "POST" or handler is None:
            await _answer(send, 404, {"error": "not found"})
            return
        try:
            data = json.loads(body)
        except ValueError:
            await _answer(send, 400, {"error": "not JSON"})
            return
        await handler(send, data)

    # --- the three APIs -----------------------------------------------------------------------------------------

    async def _predict(self, send: Send, data: dict[str, Any]) -> None:
        inp = data["input"]
        job = self._job(Style.REPLICATE, f"p{uuid.uuid4().hex[:16]}", inp, data["webhook"])
        prediction = _prediction(job, "starting")
        await self._start(job, self._replicate_events(job), send, 201, prediction)

    async def _transcribe(self, send: Send, data: dict[str, Any]) -> None:
        job = self._job(Style.ASSEMBLY, f"t{uuid.uuid4().hex[:16]}", data, data["webhook_url"])
        notify = json.dumps({"transcript_id": job.id, "status": "completed"}).encode()
        events = [Event("completed", notify, {"content-type": "application/json"})]
        await self._start(job, events, send, 200, {"id": job.id, "status": "queued", "audio_url": data["audio_url"]})

    async def _message(self, send: Send, data: dict[str, Any]) -> None:
        job = self._job(Style.TWILIO, f"SM{uuid.uuid4().hex}", data, data["StatusCallback"])
        await self._start(job, self._twilio_events(job), send, 201, {"sid": job.id, "status": "queued"})

    async def _transcript(self, send: Send, transcript_id: str) -> None:
        job = self.jobs.get(transcript_id)
        if job is None:
            await _answer(send, 404, {"error": "transcript not found"})
            return
        job.fetches += 1
        # Out of order: the notify came first, but the first GET still says "processing" (the fetch retries).
        status = "processing" if job.plan is Plan.OUT_OF_ORDER and job.fetches == 1 else "completed"
        await _answer(send, 200, {"id": job.id, "status": status, "text": transcript_text(job.id)})

    # --- jobs and their events ----------------------------------------------------------------------------------

    def _job(self, style: Style, job_id: str, data: dict[str, Any], url: str) -> Job:
        job = Job(style, job_id, str(data["run"]), str(data["stage"]), Plan(data["plan"]), url)
        self.jobs[job.id] = job
        return job

    def _replicate_events(self, job: Job) -> list[Event]:
        def event(status: str, **extra: Any) -> Event:
            body = json.dumps(_prediction(job, status, **extra)).encode()
            return Event(status, body, {"content-type": "application/json", "webhook-id": f"msg_{uuid.uuid4().hex}"})

        return [
            event("starting"),
            event("processing", logs="50%"),
            event("succeeded", output=replicate_output(job.id)),
        ]

    def _twilio_events(self, job: Job) -> list[Event]:
        def event(status: str) -> Event:
            fields = {"MessageSid": job.id, "MessageStatus": status, "AccountSid": "AC123", "To": "+15550100"}
            return Event(status, urlencode(fields).encode(), {"content-type": "application/x-www-form-urlencoded"})

        return [event("queued"), event("sent"), event("delivered")]

    async def _start(self, job: Job, events: list[Event], send: Send, status: int, answer: dict[str, Any]) -> None:
        """Answer the request and deliver the job's events by its plan (the early plan delivers them first)."""
        *progress, final = events
        if job.plan is Plan.EARLY:
            early = self._spawn(self._deliver_all(job, events))
            await asyncio.wait([early], timeout=EARLY_WAIT_SECONDS)
        elif job.plan is Plan.OUT_OF_ORDER:
            self._spawn(self._deliver_all(job, [final, *progress[-1:]], then_again=final))
        elif job.plan is Plan.DUPLICATE:
            self._spawn(self._deliver_all(job, [e for e in events for _ in range(2)]))
        else:
            self._spawn(self._deliver_all(job, events))
        await _answer(send, status, answer)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _deliver_all(self, job: Job, events: list[Event], *, then_again: Event | None = None) -> None:
        for event in events:
            await asyncio.sleep(0.05)
            await self._deliver(job, event)
        if then_again is not None:
            await asyncio.sleep(1.0)  # a redelivery long after the stage advanced
            await self._deliver(job, then_again)

    async def _deliver(self, job: Job, event: Event) -> None:
        """POST one event, retrying like a vendor: connection errors, 429 and 5xx, with backoff, for a while."""
        assert self.http is not None
        deadline = time.monotonic() + SEND_BUDGET_SECONDS
        pause = 0.2
        while True:
            try:
                status = (await self.http.post(job.url, content=event.body, headers=event.headers)).status_code
            except httpx.HTTPError:
                status = 0
            self.answers[f"{job.style} {event.label} {status}"] += 1
            if status and status != 429 and status < 500:
                return
            if time.monotonic() + pause > deadline:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for the deliveries still under way; cancel what is left."""
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks), timeout=timeout)
            for task in pending:
                task.cancel()


def replicate_output(job_id: str) -> dict[str, Any]:
    """A prediction's output (an object, so the stage's result is exactly it)."""
    return {"image": f"https://replicate.delivery/{job_id}/out-0.png", "seed": 1234}


def transcript_text(job_id: str) -> str:
    """A transcript's text (the fetched result)."""
    return f"Transcript {job_id}: hello from the other side."


def _prediction(job: Job, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "version": "sdxl",
        "status": status,
        "input": {"prompt": "a stage gate at dawn"},
        "output": None,
        "error": None,
        "logs": "",
        "urls": {"get": f"https://api.replicate.com/v1/predictions/{job.id}"},
        **extra,
    }


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
