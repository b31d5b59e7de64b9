"""Callback shapes as plain values: what a shape refuses when it is made, how it reads bodies, how it travels."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.errors import BadCallbackError, CallbackUrlError, ShapeError, UnmappedOutcomeError
from app.gate.callback_urls import CallbackTarget, build_callback_url, verify_callback_params
from app.gate.shapes import BodyFormat, CallbackShape, Meaning, decode_shape, encode_shape, read
from app.gate.types import Mode

SECRET = "unit-test-secret"
PREDICTION = CallbackShape(
    outcome="status",
    completed=["succeeded"],
    failed=["failed"],
    cancelled=["canceled"],
    progress=["starting", "processing"],
    ignore=["queued"],
    result="output",
    error="error",
    event_id="id",
)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        (
            {"outcome": "status", "completed": ["ok"], "failed": ["ok"]},
            "'ok' is mapped twice: to completed and to failed",
        ),
        ({"outcome": "status", "completed": ["ok"], "ignore": ["ok"]}, "mapped twice"),
        ({"outcome": "data.status", "completed": ["ok"], "body": BodyFormat.FORM}, "a form body has only flat fields"),
        ({"outcome": "Status", "completed": ["ok"], "body": BodyFormat.FORM, "error": "a.b"}, "flat fields"),
        ({"outcome": "status", "failed": ["x"]}, "no value means completed"),
        ({"completed": ["ok"]}, "exactly one of outcome"),
        ({"outcome": "s", "outcome_header": "X-S", "completed": ["ok"]}, "exactly one of outcome"),
        ({"outcome": "s", "completed": ["ok"], "event_id": "id", "event_id_header": "X-Id"}, "at most one"),
        ({"outcome": "status[0]", "completed": ["ok"]}, "not a dotted path"),
        ({"outcome_header": "Bad Header", "completed": ["ok"]}, "not a header name"),
        ({"outcome": "s", "completed": [f"v{i}" for i in range(40)]}, "at most 32"),
        ({"outcome": "s", "completed": ["x" * 101]}, "at most 100 characters"),
    ],
)
def test_a_shape_that_cannot_work_is_refused_when_made(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(ShapeError, match=problem.replace("[", r"\[")):
        CallbackShape(**kwargs)


@pytest.mark.parametrize(
    ("body", "meaning", "result", "error", "event_id"),
    [
        ({"id": "p1", "status": "succeeded", "output": ["u"]}, Meaning.COMPLETED, {"value": ["u"]}, None, "p1"),
        ({"id": "p1", "status": "succeeded", "output": {"a": 1}}, Meaning.COMPLETED, {"a": 1}, None, "p1"),
        ({"id": "p1", "status": "failed", "error": "boom"}, Meaning.FAILED, None, "boom", "p1"),
        ({"id": 7, "status": "canceled", "error": {"code": 3}}, Meaning.CANCELLED, None, '{"code":3}', "7"),
        ({"status": "processing"}, Meaning.PROGRESS, None, None, None),
        ({"status": "queued"}, Meaning.IGNORE, None, None, None),
    ],
)
def test_a_json_body_reads_with_the_shape(
    body: dict[str, Any], meaning: Meaning, result: Any, error: str | None, event_id: str | None
) -> None:
    reading = read(PREDICTION, body, {})
    assert (reading.meaning, reading.result, reading.error, reading.event_id) == (meaning, result, error, event_id)


def test_nested_paths_booleans_and_the_whole_body() -> None:
    shape = CallbackShape(outcome="data.ok", completed=["true"], failed=["false"])
    body = {"data": {"ok": True, "n": 1}}
    reading = read(shape, body, {})
    assert reading.meaning is Meaning.COMPLETED
    assert reading.result == body  # no result path: the whole body


def test_outcome_and_event_id_from_headers() -> None:
    shape = CallbackShape(outcome_header="X-Event", completed=["done"], event_id_header="X-Delivery")
    reading = read(shape, {}, {"x-event": "done", "x-delivery": "d-1"})
    assert (reading.meaning, reading.event_id) == (Meaning.COMPLETED, "d-1")
    with pytest.raises(BadCallbackError, match="no X-Event header") as missing:
        read(shape, {}, {})
    assert missing.value.code == "missing_outcome"


def test_an_unmapped_value_names_the_field_the_value_and_the_accepted_values() -> None:
    with pytest.raises(UnmappedOutcomeError) as refused:
        read(PREDICTION, {"status": "exploded"}, {})
    err = refused.value
    assert (err.field, err.value, err.status_code, err.code) == ("status", "exploded", 400, "unmapped_outcome")
    assert err.accepted == ["canceled", "failed", "processing", "queued", "starting", "succeeded"]
    assert "'exploded'" in err.message


@pytest.mark.parametrize("body", [{}, {"status": {"a": 1}}, {"status": [1]}, ["status"], "succeeded"])
def test_a_missing_or_odd_outcome_is_a_bad_callback(body: Any) -> None:
    with pytest.raises(BadCallbackError) as refused:
        read(PREDICTION, body, {})
    assert refused.value.code == "missing_outcome"


def test_encoded_shapes_round_trip_and_garbage_is_refused() -> None:
    form = CallbackShape(body=BodyFormat.FORM, outcome="MessageStatus", completed=["delivered"], error="ErrorCode")
    for shape in (PREDICTION, form):
        assert decode_shape(encode_shape(shape)) == shape
    for garbage in ("", "!!", "e30", encode_shape(form)[:-3], "eyJ4IjoxfQ"):  # e30 = {}, eyJ4IjoxfQ = {"x":1}
        with pytest.raises(ShapeError):
            decode_shape(garbage)


def _target(shape: CallbackShape | None) -> CallbackTarget:
    return CallbackTarget(Mode.SIGNAL, "wf-1", 1, 1, int(time.time()) + 60, shape=shape)


def test_the_shape_travels_signed_in_the_callback_url() -> None:
    url = build_callback_url("http://cb", SECRET, _target(PREDICTION))
    params = parse_qsl(urlsplit(url).query)
    assert verify_callback_params(Mode.SIGNAL, params, [SECRET], now=time.time()).shape == PREDICTION
    # Another shape under the same signature: refused like any tampered parameter.
    other = encode_shape(CallbackShape(outcome="status", completed=["failed"]))
    tampered = [(k, other if k == "shp" else v) for k, v in params]
    with pytest.raises(CallbackUrlError, match="signature"):
        verify_callback_params(Mode.SIGNAL, tampered, [SECRET], now=time.time())
    # Dropping it does not fall back to our own body either.
    with pytest.raises(CallbackUrlError, match="signature"):
        verify_callback_params(Mode.SIGNAL, [p for p in params if p[0] != "shp"], [SECRET], now=time.time())


def test_a_url_without_a_shape_is_what_it_always_was() -> None:
    url = build_callback_url("http://cb", SECRET, _target(None))
    assert "shp=" not in url
    # The signature of a shape-less URL covers the same bytes as before shapes existed (fixed vector).
    fixed = CallbackTarget(Mode.SIGNAL, "wf-1", 1, 1, 2_000_000_000)
    assert build_callback_url("http://cb", SECRET, fixed).endswith("sig=" + _OLD_SIG)


# Computed with the code before shapes existed (commit f7e8b83) for `fixed` above and SECRET.
_OLD_SIG = "8ehI3writUtPO8D3fai12KmDgUuB3eftawgPiyeO_aM"
