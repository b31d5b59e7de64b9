"""Fire a stage's callback the way a side does, and record the exact moment it was sent.

P0 sides call Temporal straight through the SDK with the same payloads the callback server would send;
HTTP sides POST to the signed callback URL the worker handed out. A 5xx or 429 (or an unreachable Temporal)
is retried with a short backoff, as a real sender would; every attempt's answer is counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from app.gate.callback_urls import decode_token
from app.gate.types import (
    SIGNAL_ADVANCE_STAGE,
    UPDATE_ADVANCE_STAGE,
    AdvanceAnswer,
    Mode,
    StageCallback,
    StageCompletion,
)
from scripts.bench.shapes import ForeignBody, with_shape
from scripts.bench.sides import Side, Via
from scripts.bench.stub_service import StageAsk

MAX_ATTEMPTS = 8
RETRY_PAUSE = 0.2


@dataclass(frozen=True)
class Fired:
    """One callback as the bench sent it: when (time.time()), when the answer came, after how many attempts."""

    sent_at: float
    answered_at: float
    attempts: int
    ok: bool


@dataclass
class FireLog:
    """Every callback fired, by (workflow ID, stage), and the answers seen (HTTP status or SDK outcome)."""

    # Written before the first attempt: the run may complete before the sender has read its own answer.
    sent_at: dict[tuple[str, int], float] = field(default_factory=dict)
    fired: dict[tuple[str, int], Fired] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)


class Firer:
    """Fires callbacks for the stub service's stage requests."""

    def __init__(
        self,
        client: Client,
        http: httpx.AsyncClient,
        log: FireLog,
        *,
        server_b: str | None = None,
        foreign: ForeignBody | None = None,
        signing_secret: str | None = None,
    ) -> None:
        self._client = client
        self._http = http
        self._server_b = server_b  # base URL of callback server B (A/B runs)
        # Foreign-body runs (`--ab-shape`): the vendor style, and the stack's secret to put its shape in the URL.
        self._foreign = foreign
        self._secret = signing_secret
        self.log = log
        self.delay = 0.0  # seconds between the stub's answer and the callback (set per phase)

    async def fire(self, side: Side, ask: StageAsk) -> None:
        """Wait `delay`, then send the callback until Temporal (or the callback server) takes it."""
        if self.delay:
            await asyncio.sleep(self.delay)
        # Built before the clock starts: the re-signing is the worker's work in a real run, not the sender's.
        request = self._request(side, ask) if side.via is Via.HTTP else None
        sent_at = time.time()
        self.log.sent_at[(ask.workflow_id, ask.stage)] = sent_at
        attempts, ok = 0, False
        while attempts < MAX_ATTEMPTS and not ok:
            if attempts:
                await asyncio.sleep(RETRY_PAUSE * attempts)
            attempts += 1
            outcome = await (self._sdk(side, ask, sent_at) if request is None else self._post(request))
            self.log.answers[f"{side.key} {outcome}"] += 1
            ok = outcome in ("200", "202", "sdk ok")
            if not ok and not _retryable(outcome):
                break
        self.log.fired[(ask.workflow_id, ask.stage)] = Fired(sent_at, time.time(), attempts, ok)

    def _request(self, side: Side, ask: StageAsk) -> _Post:
        """The callback request of an HTTP side: URL, JSON body and headers."""
        event_id = f"bench-{ask.workflow_id}-{ask.stage}"
        url = ask.callback_url
        if side.server == "b" and self._server_b is not None:
            # Same path and signed query, other server: the signature covers the parameters, not the host.
            parts = urlsplit(url)
            url = f"{self._server_b}{parts.path}?{parts.query}"
        if self._foreign is None:
            return _Post(url, {"callback_id": event_id}, {})
        if side.body == "foreign":
            assert self._secret is not None, "a foreign-body run needs the stack's signing secret"
            url = with_shape(url, side.mode, self._secret, self._foreign.shape)
            return _Post(url, self._foreign.body(event_id), self._foreign.headers(event_id))
        # Its twin: the same event in stagegate's own body (same ID and result), so only the reading differs.
        return _Post(url, self._foreign.own_body(event_id), {})

    async def _post(self, request: _Post) -> str:
        try:
            response = await self._http.post(request.url, json=request.body, headers=request.headers)
        except httpx.HTTPError as err:
            return f"http error {type(err).__name__}"
        return str(response.status_code)

    async def _sdk(self, side: Side, ask: StageAsk, sent_at: float) -> str:
        at = datetime.fromtimestamp(sent_at, UTC).isoformat()
        callback = StageCallback(
            stage=ask.stage, callback_id=f"bench-{ask.workflow_id}-{ask.stage}", progress=0, received_at=at
        )
        try:
            if side.mode is Mode.SIGNAL:
                await self._client.get_workflow_handle(ask.workflow_id).signal(SIGNAL_ADVANCE_STAGE, callback)
            elif side.mode is Mode.UPDATE:
                await self._client.get_workflow_handle(ask.workflow_id).execute_update(
                    UPDATE_ADVANCE_STAGE, callback, result_type=AdvanceAnswer
                )
            else:
                query = parse_qs(urlsplit(ask.callback_url).query)
                completion = StageCompletion(
                    attempt=int(query["attempt"][0]), callback_at=at, callback_id=callback.callback_id
                )
                if "token" in query:  # a URL made before v8tok
                    activity = self._client.get_async_activity_handle(task_token=decode_token(query["token"][0]))
                else:
                    activity = self._client.get_async_activity_handle(
                        workflow_id=ask.workflow_id, run_id=query["run"][0], activity_id=query["act"][0]
                    )
                await activity.complete(completion)
        except RPCError as err:
            return f"sdk {err.status.name}"
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            return "sdk update timeout"
        except WorkflowUpdateFailedError:
            return "sdk update refused"
        return "sdk ok"


@dataclass(frozen=True)
class _Post:
    url: str
    body: dict[str, object]
    headers: dict[str, str]


def _retryable(outcome: str) -> bool:
    if outcome.startswith("http error") or outcome == "sdk update timeout":
        return True
    if outcome in ("sdk UNAVAILABLE", "sdk DEADLINE_EXCEEDED", "sdk RESOURCE_EXHAUSTED"):
        return True
    return outcome.isdigit() and (outcome == "429" or outcome.startswith("5"))
