"""A fake of an AssemblyAI-style transcription API: the webhook only says "done"; the transcript must be fetched.

    POST /v2/transcript {"audio_url", "webhook_url"}  -> 200 {"id", "status": "queued", ...}
    GET  /v2/transcript/{id}                          -> {"id", "status": "queued"|"processing"|"completed"|"error",
                                                          "text", "error", ...}

When the job ends the fake POSTs `{"transcript_id", "status": "completed"|"error"}` to the webhook URL, nothing
more. Deleting a transcript mid-way (the `cancel` scenario) reports `"status": "deleted"`. The caller picks a
scenario by the audio file's name: `https://audio.example/<scenario>.mp3`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from litestar import Litestar, Request, Router, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import FromPath, JSONBody

from tests.vendors.common import OVERSIZED_BYTES, Background, Deliveries, Scenario, deliver

API_KEY = "aai-test-key"  # what the fake wants in `authorization` (as the real API does)


class Assembly:
    """The fake's state: transcripts by ID and every delivery it made."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.transcripts: dict[str, dict[str, Any]] = {}
        self.fetches: list[str] = []
        # Out of order: the record a GET shows lags the notification by one GET (what it becomes after it).
        self.lagging: dict[str, dict[str, Any]] = {}
        self.background = Background()

    async def notify(self, url: str, transcript: dict[str, Any], *, pad: int = 0) -> int:
        body: dict[str, Any] = {"transcript_id": transcript["id"], "status": transcript["status"]}
        if pad:
            body["padding"] = "x" * pad
        payload = json.dumps(body)
        headers = {"content-type": "application/json"}
        return await deliver(
            self.deliveries, str(transcript["status"]), lambda http: http.post(url, content=payload, headers=headers)
        )

    def finish(self, transcript: dict[str, Any], scenario: Scenario) -> None:
        if scenario is Scenario.FAIL:
            transcript.update(status="error", error="Audio file could not be decoded")
        elif scenario is Scenario.CANCEL:
            transcript.update(status="deleted")
        else:
            transcript.update(status="completed", text="Hello from the other side.", confidence=0.97)

    async def run(self, transcript: dict[str, Any], scenario: Scenario, url: str) -> None:
        wait = self.deliveries.delay
        if scenario is Scenario.EARLY:
            return
        await asyncio.sleep(wait)
        transcript["status"] = "processing"
        if scenario is Scenario.NEVER:
            return
        await asyncio.sleep(wait)
        if scenario is Scenario.OUT_OF_ORDER:
            # The notification races the record: the first GET after it still shows "processing".
            done = dict(transcript)
            self.finish(done, scenario)
            self.lagging[transcript["id"]] = done
            await self.notify(url, done)
            return
        self.finish(transcript, scenario)
        await self.notify(url, transcript, pad=OVERSIZED_BYTES if scenario is Scenario.OVERSIZED else 0)
        if scenario is Scenario.TWICE:
            await self.notify(url, transcript)


def _scenario(audio_url: str) -> Scenario:
    name = audio_url.rsplit("/", 1)[-1].removesuffix(".mp3")
    try:
        return Scenario(name)
    except ValueError:
        return Scenario.SUCCEED


def create_router(fake: Assembly) -> Router:
    """The fake's routes."""

    def authorize(request: Request[object, object, State]) -> None:
        if request.headers.get("authorization") != API_KEY:
            raise NotAuthorizedException("Authentication error, API token missing/invalid")

    @post("/v2/transcript", status_code=200)
    async def create_transcript(request: Request[object, object, State], data: JSONBody[dict[str, Any]]) -> Any:
        authorize(request)
        scenario = _scenario(str(data["audio_url"]))
        transcript: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "audio_url": data["audio_url"],
            "status": "queued",
            "text": None,
            "error": None,
            "webhook_url": data.get("webhook_url"),
        }
        fake.transcripts[transcript["id"]] = transcript
        url = str(data["webhook_url"])
        if scenario is Scenario.EARLY:
            fake.finish(transcript, scenario)
            await fake.notify(url, transcript)
        fake.background.run(fake.run(transcript, scenario, url))
        return dict(transcript)

    @get("/v2/transcript/{transcript_id:str}")
    async def get_transcript(request: Request[object, object, State], transcript_id: FromPath[str]) -> dict[str, Any]:
        authorize(request)
        fake.fetches.append(transcript_id)
        try:
            shown = dict(fake.transcripts[transcript_id])
        except KeyError:
            raise NotFoundException("Transcript not found") from None
        if transcript_id in fake.lagging:
            fake.transcripts[transcript_id].update(fake.lagging.pop(transcript_id))
        return shown

    return Router("/", route_handlers=[create_transcript, get_transcript])


def create_app(fake: Assembly) -> Litestar:
    """The fake alone."""
    return Litestar(route_handlers=[create_router(fake)], on_shutdown=[fake.background.stop], logging_config=None)
