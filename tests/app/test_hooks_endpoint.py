"""Fixed endpoints `POST /hooks/{source}` over real HTTP on loopback, signed by the vendors' own SDKs.

A verified event reaches the delivery step (a recorder here, to see exactly what it was handed); the server's
own delivery (the key's mailbox workflow) answers 503 with Retry-After while Temporal cannot be reached, never a
silent 2xx. The mailbox itself, end to end: tests/vendors/test_fixed_endpoint.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from stripe import WebhookSignature

from app.callbacks.hooks import Delivery, HookAnswer, HookEvent
from app.callbacks.server import create_app
from app.errors import SettingsError
from app.runtime.config import load_settings
from tests.asgi import serving

# A real server on loopback: the integration tier.
pytestmark = pytest.mark.integration

STRIPE_OLD, STRIPE_NEW = "whsec_old_endpoint_secret", "whsec_new_endpoint_secret"
SLACK_SECRET = "slack-signing-secret-1234"
GITHUB_SECRET = "It's a Secret to Everybody"
ENV = {
    "TEMPORAL_ADDRESS": os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
    "STAGEGATE_HOOK_SOURCES": "pay:stripe,chat:slack,gh:github",
    "STAGEGATE_HOOK_PAY_SECRETS": f"{STRIPE_NEW} {STRIPE_OLD}",
    "STAGEGATE_HOOK_PAY_KEY_PATH": "data.object.id",
    "STAGEGATE_HOOK_PAY_EVENT_ID_PATH": "id",
    "STAGEGATE_HOOK_CHAT_SECRETS": SLACK_SECRET,
    "STAGEGATE_HOOK_CHAT_KEY_PATH": "event.channel",
    "STAGEGATE_HOOK_CHAT_EVENT_ID_PATH": "event_id",
    "STAGEGATE_HOOK_GH_SECRET": GITHUB_SECRET,  # taken whole: it holds spaces
    "STAGEGATE_HOOK_GH_KEY_PATH": "pull_request.number",
}
STRIPE_EVENT = {"id": "evt_9", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_42"}}}
SLACK_EVENT = {"event_id": "Ev01", "event": {"channel": "C123", "text": "done"}}


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _stripe(body: bytes, secret: str = STRIPE_NEW, ts: int | None = None) -> dict[str, str]:
    header = WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=ts or int(time.time()))
    return {"stripe-signature": header, "content-type": "application/json"}


def _slack(body: bytes, secret: str = SLACK_SECRET) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"x-slack-signature": signature, "x-slack-request-timestamp": ts}


class Recorder:
    """A delivery that keeps what it was handed (the seam correlation will fill)."""

    def __init__(self) -> None:
        self.events: list[HookEvent] = []

    async def __call__(self, event: HookEvent) -> HookAnswer:
        self.events.append(event)
        return HookAnswer(True, event.source, event.key, event.event_id, "recorded")


async def _serve(delivery: Delivery | None, env: Mapping[str, str] = ENV) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(env), hook_delivery=delivery)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _serve(recorder):
        yield client


async def test_stripe_event_signed_by_the_sdk_is_delivered_with_key_and_event_id(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    body = _json(STRIPE_EVENT)
    for secret in (STRIPE_NEW, STRIPE_OLD):  # mid-rotation: either configured secret
        r = await http.post("/hooks/pay", content=body, headers=_stripe(body, secret))
        assert r.status_code == 202, r.text
        assert r.json() == {
            "accepted": True,
            "source": "pay",
            "key": "pi_42",
            "event_id": "evt_9",
            "outcome": "recorded",
        }
    assert [(e.source, e.key, e.event_id) for e in recorder.events] == [("pay", "pi_42", "evt_9")] * 2


async def test_slack_event_signed_by_the_sdk_is_delivered(http: httpx.AsyncClient, recorder: Recorder) -> None:
    body = _json(SLACK_EVENT)
    r = await http.post("/hooks/chat", content=body, headers=_slack(body))
    assert r.status_code == 202, r.text
    assert (recorder.events[0].key, recorder.events[0].event_id) == ("C123", "Ev01")


async def test_github_integer_key_is_read_as_text(http: httpx.AsyncClient, recorder: Recorder) -> None:
    import hashlib
    import hmac

    body = _json({"action": "closed", "pull_request": {"number": 7}})
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = await http.post("/hooks/gh", content=body, headers={"x-hub-signature-256": signature})
    assert r.status_code == 202, r.text
    assert (recorder.events[0].key, recorder.events[0].event_id) == ("7", None)


@pytest.mark.parametrize("where", ["prefix", "suffix", "byte"])
async def test_tampered_bytes_are_403_and_never_delivered(
    http: httpx.AsyncClient, recorder: Recorder, where: str
) -> None:
    body = _json(STRIPE_EVENT)
    headers = _stripe(body)
    middle = len(body) // 2
    sent = {
        "prefix": b" " + body,
        "suffix": body + b"\n",
        "byte": body[:middle] + bytes([body[middle] ^ 1]) + body[middle + 1 :],
    }[where]
    r = await http.post("/hooks/pay", content=sent, headers=headers)
    assert (r.status_code, r.json()["error"]) == (403, "bad_body_signature"), r.text
    assert recorder.events == []


async def test_refusals_are_json_4xx_without_secrets(http: httpx.AsyncClient, recorder: Recorder) -> None:
    body = _json(STRIPE_EVENT)
    answers = {
        "unknown source": await http.post("/hooks/nope", content=body, headers=_stripe(body)),
        "wrong secret": await http.post("/hooks/pay", content=body, headers=_stripe(body, "whsec_someone_else")),
        "stale": await http.post("/hooks/pay", content=body, headers=_stripe(body, ts=int(time.time()) - 301)),
        "missing header": await http.post("/hooks/pay", content=body),
        "malformed header": await http.post("/hooks/pay", content=body, headers={"stripe-signature": "t=1,v1=zz"}),
        "other source's scheme": await http.post("/hooks/chat", content=body, headers=_stripe(body)),
    }
    no_key = _json({"id": "evt_1", "data": {}})
    answers["no correlation key"] = await http.post("/hooks/pay", content=no_key, headers=_stripe(no_key))
    not_json = b"id=evt_1"
    answers["not json"] = await http.post("/hooks/pay", content=not_json, headers=_stripe(not_json))
    got = {what: (r.status_code, r.json()["error"]) for what, r in answers.items()}
    assert got == {
        "unknown source": (404, "unknown_source"),
        "wrong secret": (403, "bad_body_signature"),
        "stale": (403, "stale_body_signature"),
        "missing header": (401, "missing_body_signature"),
        "malformed header": (400, "malformed_body_signature"),
        "other source's scheme": (401, "missing_body_signature"),
        "no correlation key": (400, "no_correlation_key"),
        "not json": (400, "invalid_json"),
    }
    for r in answers.values():
        assert not any(secret in r.text for secret in (STRIPE_OLD, STRIPE_NEW, SLACK_SECRET, GITHUB_SECRET))
    assert recorder.events == []


async def test_with_temporal_unreachable_a_verified_event_is_answered_503_not_dropped() -> None:
    from tests.stack import free_port

    body = _json(STRIPE_EVENT)
    app = create_app(load_settings({**ENV, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.post("/hooks/pay", content=body, headers=_stripe(body))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"]
    assert r.json()["error"] == "temporal_unavailable"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"STAGEGATE_HOOK_SOURCES": "pay:paypal"}, "unknown signature scheme 'paypal'"),
        ({"STAGEGATE_HOOK_PAY_SECRETS": "not-a-whsec"}, "hook source 'pay': a Stripe endpoint secret"),
        ({"STAGEGATE_HOOK_PAY_KEY_PATH": "data..id"}, "key path 'data..id' is not a dotted path"),
        (
            {
                "STAGEGATE_HOOK_SOURCES": "acme:hmac",
                "STAGEGATE_HOOK_ACME_SECRETS": "s",
                "STAGEGATE_HOOK_ACME_KEY_PATH": "id",
            },
            "needs the option 'header'",
        ),
    ],
)
def test_bad_source_configuration_stops_the_server(change: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        create_app(load_settings({**ENV, **change}))


def test_generic_hmac_options_come_from_the_environment() -> None:
    env = {
        "STAGEGATE_HOOK_SOURCES": "acme:hmac",
        "STAGEGATE_HOOK_ACME_SECRETS": "k1 k2",
        "STAGEGATE_HOOK_ACME_KEY_PATH": "job.id",
        "STAGEGATE_HOOK_ACME_OPT_HEADER": "X-Acme-Signature",
        "STAGEGATE_HOOK_ACME_OPT_ENCODING": "base64",
    }
    source = load_settings(env).hook_sources["acme"]
    assert (source.scheme, source.secrets, source.options) == (
        "hmac",
        ("k1", "k2"),
        {"header": "X-Acme-Signature", "encoding": "base64"},
    )
    assert "k1" not in repr(source)
    with pytest.raises(SettingsError, match="neither STAGEGATE_HOOK_ACME_SECRET nor STAGEGATE_HOOK_ACME_SECRETS"):
        load_settings({**env, "STAGEGATE_HOOK_ACME_SECRETS": ""})


TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
TWILIO_ENV = {
    "TEMPORAL_ADDRESS": ENV["TEMPORAL_ADDRESS"],
    "STAGEGATE_HOOK_SOURCES": "sms:twilio,lab:none",
    "STAGEGATE_HOOK_SMS_SECRET": TWILIO_TOKEN,
    "STAGEGATE_HOOK_SMS_KEY_PATH": "MessageSid",
    # The URL configured at Twilio: the public one, not the loopback address this test serves on.
    "STAGEGATE_HOOK_SMS_OPT_URL": "https://hooks.example.com/hooks/sms",
    "STAGEGATE_HOOK_LAB_KEY_PATH": "job.id",
    "STAGEGATE_HOOK_LAB_ALLOW_UNSIGNED": "1",
}


async def test_twilio_form_event_signed_by_the_sdk_is_delivered(recorder: Recorder) -> None:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    fields = {"MessageSid": "SM42", "MessageStatus": "delivered", "To": "+15558675310"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://hooks.example.com/hooks/sms", fields)
    form = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    async for http in _serve(recorder, TWILIO_ENV):
        body = urlencode(fields).encode()
        r = await http.post("/hooks/sms", content=body, headers={**form, "x-twilio-signature": signature})
        assert r.status_code == 202, r.text
        assert recorder.events[0].key == "SM42"
        assert recorder.events[0].event == fields
        # The same signature over another status, or as JSON: refused, never delivered.
        other = urlencode({**fields, "MessageStatus": "failed"}).encode()
        r = await http.post("/hooks/sms", content=other, headers={**form, "x-twilio-signature": signature})
        assert (r.status_code, r.json()["error"]) == (403, "bad_body_signature")
        r = await http.post("/hooks/sms", content=_json(fields), headers={"x-twilio-signature": signature})
        assert (r.status_code, r.json()["error"]) == (403, "bad_body_signature")
    assert len(recorder.events) == 1


async def test_form_events_that_are_not_form_data_are_400(recorder: Recorder) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    async for http in _serve(recorder, TWILIO_ENV):
        r = await http.post("/hooks/lab", content=b"job.id=1&\xff=2", headers=form)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_form"), r.text
        r = await http.post("/hooks/lab", content=b"other=1", headers=form)
        assert (r.status_code, r.json()["error"]) == (400, "no_correlation_key"), r.text
    assert recorder.events == []


async def test_unsigned_source_takes_events_and_says_so_in_readyz(recorder: Recorder) -> None:
    async for http in _serve(recorder, TWILIO_ENV):
        r = await http.post("/hooks/lab", content=_json({"job": {"id": "j1"}}))
        assert r.status_code == 202, r.text
        ready = await http.get("/readyz")
        assert ready.json()["unsigned_hook_sources"] == ["lab"]
    assert [e.key for e in recorder.events] == ["j1"]
    async for http in _serve(recorder):
        assert (await http.get("/readyz")).json()["unsigned_hook_sources"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"STAGEGATE_HOOK_LAB_ALLOW_UNSIGNED": ""},
            "takes events nobody signed; set STAGEGATE_HOOK_LAB_ALLOW_UNSIGNED=1",
        ),
        ({"STAGEGATE_HOOK_LAB_ALLOW_UNSIGNED": "0"}, "takes events nobody signed"),
        ({"STAGEGATE_HOOK_LAB_ALLOW_UNSIGNED": "maybe"}, "must be true or false"),
        ({"STAGEGATE_HOOK_LAB_SECRET": "s3cret"}, "the scheme 'none' takes no secret"),
        ({"STAGEGATE_HOOK_SMS_ALLOW_UNSIGNED": "1"}, "applies only to the scheme 'none'"),
        ({"STAGEGATE_HOOK_SMS_OPT_URL": ""}, "needs the option 'url'"),
    ],
)
def test_unsigned_needs_its_own_opt_in(change: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        create_app(load_settings({**TWILIO_ENV, **change}))
