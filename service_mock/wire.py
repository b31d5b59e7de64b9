"""msgspec Structs for every HTTP body the service mock receives or sends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Action = Literal["complete", "fail", "heartbeat", "report_cancellation", "ignore"]
CallbackStatus = Literal["completed", "failed", "cancelled", "progress"]

# An http(s) URL with a non-empty host part; httpx rejects anything looser at send time anyway.
_CALLBACK_URL_PATTERN = r"^https?://[^\s/?#]+([/?#]\S*)?$"

NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0.0)]


class JobRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Body of POST /request: what to do, where to report, and which faults to inject."""

    callback_url: Annotated[str, msgspec.Meta(pattern=_CALLBACK_URL_PATTERN, max_length=8192)]
    # Seconds to wait before answering 200.
    time_to_request: NonNegativeSeconds = 0.0
    # Seconds after the request arrived at which the final (or first progress) callback is sent.
    time_to_callback: NonNegativeSeconds = 1.0
    action: Action = "complete"
    payload: dict[str, Any] | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=512)] | None = None
    # Fault injection: every callback is sent this many extra times, with the same callback_id.
    duplicate_deliveries: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Fault injection: added to time_to_callback.
    extra_delay: NonNegativeSeconds = 0.0
    # Fault injection: do the work but never deliver a callback (a lost webhook); GET /jobs still shows it.
    lose_callbacks: bool = False


class Notify(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Where POST /publish reports: this route wants its callback URL in `notify.url`."""

    url: Annotated[str, msgspec.Meta(pattern=_CALLBACK_URL_PATTERN, max_length=8192)]


class PublishRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Body of POST /publish: publish a finished asset under a title, report to `notify.url` when it is live."""

    asset: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    notify: Notify
    # Seconds after the request arrived at which the service reports the publication.
    time_to_callback: NonNegativeSeconds = 0.5
    action: Action = "complete"


class PublishAccepted(msgspec.Struct, kw_only=True, frozen=True):
    """Answer to POST /publish."""

    publication_id: str
    duplicate: bool


class JobAccepted(msgspec.Struct, kw_only=True, frozen=True):
    """Answer to POST /request."""

    job_id: str
    duplicate: bool


class Health(msgspec.Struct, kw_only=True, frozen=True):
    """Answer to GET /healthz."""

    status: Literal["ok"] = "ok"


class JobView(msgspec.Struct, kw_only=True, frozen=True):
    """Answer to GET /jobs/{job_id}: the job's state as the service sees it."""

    job_id: str
    action: Action
    callback_url: str
    idempotency_key: str | None
    created_at: str
    # Callback events sent so far (progress, final, and final redeliveries to a new URL); duplicates not counted.
    events_emitted: int
    # Deliveries acknowledged with a 2xx.
    deliveries: int
    # Deliveries abandoned: a non-retryable answer or attempts exhausted.
    deliveries_failed: int
    # HTTP attempts across all deliveries, retries included.
    attempts: int
    last_status_code: int | None
    last_error: str | None
    done: bool
    # The final callback as the service sees it (also when it was lost or never delivered): a client
    # that missed the callback can reconcile from here.
    final: Callback | None = None


class Callback(msgspec.Struct, kw_only=True, frozen=True):
    """Body the service POSTs to callback_url."""

    callback_id: str
    status: CallbackStatus
    result: dict[str, Any] | None
    error: str | None
    progress: int
    sent_at: str
