"""Foreign callback bodies for the benchmark: a stage with a callback shape, answered with the service's own body.

`--ab-shape replicate` adds, beside every HTTP side (P1-P3), a twin whose callbacks are what a Replicate-style
prediction API POSTs: its whole prediction object (`id`, `status: succeeded`, `output`, `metrics`, ...) with a
`webhook-id` header, to a callback URL that carries the stage's callback shape. The shape is put into the URL
the worker signed by re-signing it with the stack's secret, exactly the URL a worker makes for a stage declared
with `callback=REPLICATE` (the signer is the same code); the demo workflow, the worker and the callback server
are unchanged, so the two sides differ only in what the callback server reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from app.gate.callback_urls import build_callback_url, verify_callback_params
from app.gate.shapes import CallbackShape
from app.gate.types import Mode


@dataclass(frozen=True)
class ForeignBody:
    """One vendor style: the stage's callback shape and the body (and headers) its final event carries."""

    name: str
    label: str
    shape: CallbackShape

    def body(self, event_id: str) -> dict[str, Any]:
        """The vendor's final "succeeded" event for one stage."""
        return {
            "id": event_id,
            "version": "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
            "status": "succeeded",
            "input": {"prompt": "an astronaut riding a horse", "num_outputs": 1},
            "output": ["https://replicate.delivery/pbxt/abc/out-0.png"],
            "error": None,
            "logs": "Using seed: 1234\n100%|##########| 50/50 [00:03<00:00, 14.2it/s]\n",
            "metrics": {"predict_time": 3.51, "total_time": 3.98},
            "created_at": "2026-12-05T08:00:00.000Z",
            "started_at": "2026-12-05T08:00:00.400Z",
            "completed_at": "2026-12-05T08:00:03.980Z",
            "urls": {
                "get": f"https://api.replicate.com/v1/predictions/{event_id}",
                "cancel": f"https://api.replicate.com/v1/predictions/{event_id}/cancel",
            },
        }

    def own_body(self, event_id: str) -> dict[str, Any]:
        """The same event in stagegate's own body: what the shape makes of `body` (same callback ID and result)."""
        return {
            "status": "completed",
            "callback_id": self.headers(event_id)["webhook-id"],
            "result": {"value": self.body(event_id)["output"]},
        }

    def headers(self, event_id: str) -> dict[str, str]:
        """The event's own ID travels in a header (Standard Webhooks' `webhook-id`)."""
        return {"webhook-id": f"msg_{event_id}"}


REPLICATE = ForeignBody(
    name="replicate",
    label="Replicate body",
    shape=CallbackShape(
        outcome="status",
        completed=["succeeded"],
        failed=["failed"],
        cancelled=["canceled"],
        progress=["starting", "processing"],
        result="output",
        error="error",
        event_id_header="webhook-id",
    ),
)
FOREIGN_BODIES = {REPLICATE.name: REPLICATE}


def with_shape(url: str, mode: Mode, secret: str, shape: CallbackShape) -> str:
    """The worker's signed callback URL for the same stage, with `shape` in it (signed again with `secret`)."""
    parts = urlsplit(url)
    target = verify_callback_params(mode, parse_qsl(parts.query), [secret], now=time.time())
    return build_callback_url(f"{parts.scheme}://{parts.netloc}", secret, replace(target, shape=shape))
