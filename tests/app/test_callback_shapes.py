"""The callback server reading a service's own body with the shape its signed URL carries (ASGI, real dev server).

Refusals come before Temporal is touched, in every mode: the workflow these URLs name does not exist, so
anything that reached Temporal would be answered 404 (or 409 for a token), never 400 or 202.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from temporalio.client import Client

from app.callbacks.server import create_app
from app.callbacks.shapes import decode_foreign_body
from app.gate.callback_urls import CallbackTarget, build_callback_url
from app.gate.shapes import BodyFormat, CallbackShape
from app.gate.types import Mode
from app.runtime.config import Settings
from tests.asgi import asgi_client

PREDICTION = CallbackShape(
    outcome="status", completed=["succeeded"], failed=["failed"], progress=["processing"], ignore=["starting"]
)
STATUS_FORM = CallbackShape(body=BodyFormat.FORM, outcome="MessageStatus", completed=["delivered"], ignore=["sent"])


def _url(settings: Settings, mode: Mode, shape: CallbackShape) -> str:
    target = CallbackTarget(
        mode,
        f"no-such-workflow-{uuid.uuid4().hex[:8]}",
        1,
        1,
        int(time.time()) + 300,
        task_token=b"\x01not-a-real-token" if mode is Mode.TOKEN else None,
        shape=shape,
    )
    parts = urlsplit(build_callback_url("http://test", settings.signing_secrets[0], target))
    return f"{parts.path}?{parts.query}"


@pytest.fixture
async def http(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(settings, client=client)) as c:
        yield c


@pytest.mark.parametrize("mode", list(Mode))
async def test_an_unmapped_value_is_a_400_that_says_what_would_be_understood(
    http: httpx.AsyncClient, settings: Settings, mode: Mode
) -> None:
    answer = await http.post(_url(settings, mode, PREDICTION), json={"id": "p1", "status": "exploded"})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": "unmapped_outcome",
        "message": "status is 'exploded', which this stage's callback shape does not map; "
        "accepted: failed, processing, starting, succeeded",
        "status_code": 400,
        "field": "status",
        "value": "exploded",
        "accepted": ["failed", "processing", "starting", "succeeded"],
    }
    metrics = (await http.get("/metrics")).text
    assert f'reason="unmapped_outcome",route="/callbacks/{mode.value}"' in metrics


@pytest.mark.parametrize("mode", list(Mode))
async def test_an_ignored_value_is_taken_and_not_forwarded(
    http: httpx.AsyncClient, settings: Settings, mode: Mode
) -> None:
    answer = await http.post(_url(settings, mode, PREDICTION), json={"status": "starting"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["verdict"] == "ignored"
    form = await http.post(
        _url(settings, mode, STATUS_FORM),
        content=urlencode({"MessageSid": "SM1", "MessageStatus": "sent"}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 202, form.text


async def test_a_mapped_value_goes_on_to_temporal(http: httpx.AsyncClient, settings: Settings) -> None:
    # The workflow does not exist: Temporal's answer (404) shows the callback got past the shape.
    answer = await http.post(_url(settings, Mode.SIGNAL, PREDICTION), json={"status": "succeeded"})
    assert answer.status_code == 404, answer.text
    form = await http.post(
        _url(settings, Mode.SIGNAL, STATUS_FORM),
        content=urlencode({"MessageSid": "SM1", "MessageStatus": "delivered"}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 404, form.text


@pytest.mark.parametrize(
    ("shape", "content", "code"),
    [
        (PREDICTION, b"MessageStatus=delivered", "invalid_json"),
        (PREDICTION, b'{"output": 1}', "missing_outcome"),
        (PREDICTION, b'{"status": {"nested": 1}}', "missing_outcome"),
        (PREDICTION, b"", "invalid_json"),
        (STATUS_FORM, b"\xff\xfe=1", "invalid_form"),
        (STATUS_FORM, b"MessageStatus=delivered&MessageStatus=sent", "missing_outcome"),
        (STATUS_FORM, b'{"MessageStatus": "delivered"}', "missing_outcome"),
    ],
)
async def test_a_body_the_shape_cannot_read_is_a_400(
    http: httpx.AsyncClient, settings: Settings, shape: CallbackShape, content: bytes, code: str
) -> None:
    answer = await http.post(_url(settings, Mode.UPDATE, shape), content=content)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == code


async def test_a_result_over_the_limit_is_refused(http: httpx.AsyncClient, settings: Settings) -> None:
    big = {"status": "succeeded", "blob": "x" * (settings.callback_max_result_bytes + 10)}
    answer = await http.post(_url(settings, Mode.SIGNAL, PREDICTION), json=big)
    assert answer.status_code == 400, answer.text
    assert "as compact JSON" in answer.json()["message"]


def test_without_an_event_id_the_same_bytes_are_the_same_callback() -> None:
    def callback_id(content: bytes) -> str | None:
        body = decode_foreign_body(content, STATUS_FORM, [], max_result_bytes=10_000)
        assert body is not None
        return body.callback_id

    first = callback_id(b"MessageSid=SM1&MessageStatus=delivered")
    assert first == callback_id(b"MessageSid=SM1&MessageStatus=delivered")  # a redelivery: deduped by the gate
    assert first != callback_id(b"MessageSid=SM2&MessageStatus=delivered")
    shaped = CallbackShape(outcome="status", completed=["done"], event_id="id")
    with_id = decode_foreign_body(b'{"status": "done", "id": "evt_1", "x": 1}', shaped, [], max_result_bytes=10_000)
    assert with_id is not None
    assert with_id.callback_id == "evt_1"
