"""Property tests (hypothesis) for both signatures: round trips, and any change of a signed byte is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from app.callbacks.signatures.standard_webhooks import signature_headers, verify
from app.errors import BodySignatureError, CallbackUrlError
from app.gate.callback_urls import (
    CallbackTarget,
    build_callback_url,
    verify_callback_params,
)
from app.gate.rules import MAX_STAGE_NUMBER, STAGE_NAME
from app.gate.types import Mode
from app.runtime.config import SENDER_NAME

SECRET = "property-secret"
NOW = 1_800_000_000
PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True, database=None)

stages = st.one_of(st.integers(1, MAX_STAGE_NUMBER), st.from_regex(STAGE_NAME, fullmatch=True))


@st.composite
def targets(draw: st.DrawFn) -> CallbackTarget:
    mode = draw(st.sampled_from(Mode))
    return CallbackTarget(
        mode=mode,
        workflow_id=draw(st.text(min_size=1, max_size=300)),
        stage=draw(stages),
        attempt=draw(st.integers(1, 10**6)),
        expires_at=draw(st.integers(NOW, NOW + 10**7)),
        task_token=draw(st.binary(min_size=1, max_size=200)) if mode is Mode.TOKEN else None,
        sender=draw(st.none() | st.from_regex(SENDER_NAME, fullmatch=True)),
    )


def _query(target: CallbackTarget) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(build_callback_url("https://cb.example", SECRET, target)).query, keep_blank_values=True)


@PROPERTIES
@given(targets())
def test_url_round_trip(target: CallbackTarget) -> None:
    assert verify_callback_params(target.mode, _query(target), [SECRET], now=NOW) == target


@pytest.mark.parametrize("name", ["wf", "stage", "attempt", "token", "exp", "snd", "sig"])
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(target=targets(), data=st.data())
def test_any_change_of_a_signed_url_value_is_refused(name: str, target: CallbackTarget, data: st.DataObject) -> None:
    pairs = _query(target)
    found = [i for i, (key, _) in enumerate(pairs) if key == name]
    assume(found)  # token only in token mode, snd only when a sender is set
    index = found[0]
    value = pairs[index][1]
    where = data.draw(st.integers(0, len(value)), label="position")
    change = data.draw(st.sampled_from(["replace", "replace", "insert", "delete"]), label="change")
    # Mostly characters that keep the value canonical (a digit in a number, base64 in a token), so the
    # signature is what refuses the change, not a format check.
    likely = st.sampled_from("0123456789abcXYZ_-")
    char = data.draw(
        st.one_of(likely, likely, st.characters()).filter(lambda c: c != value[where : where + 1]), label="char"
    )
    if change == "replace" and where < len(value):
        changed = value[:where] + char + value[where + 1 :]
    elif change == "delete" and where < len(value):
        changed = value[:where] + value[where + 1 :]
    else:
        changed = value[:where] + char + value[where:]
    pairs[index] = (name, changed)
    with pytest.raises(CallbackUrlError):
        verify_callback_params(target.mode, pairs, [SECRET], now=NOW)


keys = st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=3)
webhook_ids = st.from_regex(r"[!-~]{1,255}", fullmatch=True)
timestamps = st.integers(0, 10**11)


@PROPERTIES
@given(keys, webhook_ids, timestamps, st.binary(max_size=4096))
def test_body_round_trip_with_any_of_the_keys(secrets: list[bytes], wid: str, ts: int, body: bytes) -> None:
    headers = signature_headers(secrets, wid, ts, body)
    for secret in secrets:
        assert verify(headers, body, [secret], now=ts).webhook_id == wid


@PROPERTIES
@given(keys, webhook_ids, timestamps, st.binary(min_size=1, max_size=4096), st.data())
def test_any_change_of_a_signed_body_byte_is_refused(
    secrets: list[bytes], wid: str, ts: int, body: bytes, data: st.DataObject
) -> None:
    headers = signature_headers(secrets, wid, ts, body)
    where = data.draw(st.integers(0, len(body) - 1), label="position")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[where]), label="byte")
    tampered = body[:where] + bytes([new]) + body[where + 1 :]
    with pytest.raises(BodySignatureError) as caught:
        verify(headers, tampered, secrets, now=ts)
    assert caught.value.code == "bad_body_signature"


@PROPERTIES
@given(keys, webhook_ids, timestamps, st.binary(max_size=512), st.sampled_from(["webhook-id", "webhook-timestamp"]))
def test_any_change_of_id_or_timestamp_is_refused(
    secrets: list[bytes], wid: str, ts: int, body: bytes, header: str
) -> None:
    headers = signature_headers(secrets, wid, ts, body)
    headers[header] = wid + "x" if header == "webhook-id" else str(ts + 1)
    with pytest.raises(BodySignatureError):
        verify(headers, body, secrets, now=ts)


@PROPERTIES
@given(st.binary(min_size=1, max_size=64), webhook_ids, st.text(max_size=1000))
def test_reference_package_accepts_what_we_sign(secret: bytes, wid: str, text: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    body = text.encode()
    key = "whsec_" + base64.b64encode(secret).decode()
    Webhook(key).verify(body, signature_headers([secret], wid, now, body), json_parse=False)
    theirs = Webhook(key).sign(msg_id=wid, timestamp=datetime.fromtimestamp(now, UTC), data=text)
    headers = {"webhook-id": wid, "webhook-timestamp": str(now), "webhook-signature": theirs}
    assert verify(headers, body, [secret], now=now).webhook_id == wid
