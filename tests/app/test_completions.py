"""Reading activity results in workflow code (app/gate/completions.py): every form a person or another SDK can send.

Plain functions over the SDK's default payload converter, no server. The end-to-end proof that nothing of this
fails a workflow task is tests/e2e/test_outside_payloads.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import PayloadConverter

from app.errors import InvalidCallbackError
from app.gate import completions
from app.gate.shapes import FetchResult, Meaning
from app.gate.types import CallbackStatus, StageAccepted, StageCallback, StageCheck, StageCompletion

AT = "2026-01-01T00:00:00+00:00"
CONVERTER = PayloadConverter.default


def _raw(value: Any) -> RawValue:
    """What an activity completed with `value` carries: the SDK's own encoding of it."""
    return RawValue(CONVERTER.to_payload(value))


def _read(value: Any, stage: int | str = 1) -> StageCompletion | StageCallback:
    return completions.read_completion(completions.decode(_raw(value), CONVERTER), stage=stage, received_at=AT)


def test_the_callback_servers_completion_reads_as_it_always_did() -> None:
    sent = StageCompletion(attempt=2, callback_at=AT, callback_id="cb-1", progress=3, result={"k": [1, {"x": None}]})
    assert _read(sent) == sent
    assert _read(asdict(sent) | {"field_added_later": 1}) == sent  # a newer server's extra field is ignored


@pytest.mark.parametrize(
    ("value", "result"),
    [
        (None, None),
        ("done", {"value": "done"}),
        (42, {"value": 42}),
        (1.5, {"value": 1.5}),
        (True, {"value": True}),
        ([1, "a"], {"value": [1, "a"]}),
        ({}, {}),
        ({"approved": True}, {"approved": True}),
        ({"status": "completed"}, None),
        ({"status": "completed", "result": {"k": 1}}, {"k": 1}),
        ({"status": None, "stage": 1}, None),  # no status: completed, as in the signal
    ],
)
def test_any_json_that_means_done_is_a_manual_completion(value: Any, result: Any) -> None:
    got = _read(value)
    assert isinstance(got, StageCallback)
    assert (got.stage, got.status, got.result, got.received_at) == (1, CallbackStatus.COMPLETED, result, AT)


def test_no_payload_at_all_means_done() -> None:
    got = completions.read_completion(completions.decode(None, CONVERTER), stage="kyc", received_at=AT)
    assert got == StageCallback(stage="kyc", received_at=AT)


@pytest.mark.parametrize(
    ("value", "status", "error"),
    [
        ({"status": "failed", "error": "refused"}, CallbackStatus.FAILED, "refused"),
        ({"status": "cancelled"}, CallbackStatus.CANCELLED, None),
        ({"status": "failed", "stage": "1", "callback_id": "x"}, CallbackStatus.FAILED, None),
    ],
)
def test_the_signals_object_form_ends_the_stage_as_it_says(value: Any, status: CallbackStatus, error: Any) -> None:
    got = _read(value)
    assert isinstance(got, StageCallback)
    assert (got.status, got.error) == (status, error)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"status": "progress"}, "'progress' cannot be reported"),
        ({"status": "completd"}, "status must be one of"),
        ({"status": "completed", "stage": 2}, "names stage 2"),
        ({"status": "completed", "stage": 0}, "between 1 and"),
        ({"status": "completed", "statsu": 1}, "unknown field(s) statsu"),
        ({"status": "failed", "error": 5}, "error has the wrong type"),
        ({"status": "completed", "result": [1]}, "result has the wrong type"),
        ({"attempt": "x", "callback_at": AT}, "does not fit StageCompletion"),
        ({"attempt": 1, "callback_at": 5}, "does not fit StageCompletion"),
        ({"attempt": 1, "callback_at": AT, "result": "text"}, "does not fit StageCompletion"),
    ],
)
def test_what_the_gate_cannot_use_is_refused_with_the_reason(value: Any, says: str) -> None:
    with pytest.raises(InvalidCallbackError) as err:
        _read(value)
    assert says in str(err.value)


@pytest.mark.parametrize(
    "payload",
    [
        Payload(metadata={"encoding": b"binary/bogus"}, data=b"\xff"),  # an encoding no converter knows
        Payload(metadata={"encoding": b"json/plain"}, data=b"{not json"),
        Payload(metadata={"encoding": b"binary/plain"}, data=b"\x00\xff"),  # bytes: not JSON
        Payload(metadata={"encoding": b"json/protobuf", "messageType": b"no.such.Type"}, data=b"{}"),
        Payload(metadata={}, data=b"1"),  # no encoding at all
    ],
)
def test_a_payload_that_is_not_json_is_refused(payload: Payload) -> None:
    with pytest.raises(InvalidCallbackError, match=r"cannot read|not JSON"):
        completions.decode(RawValue(payload), CONVERTER)


def test_the_request_activitys_envelope_and_a_hand_made_answer() -> None:
    envelope = StageAccepted(attempt=3, accepted_at=AT, job_id="j", result={"id": 7}, service="POST x")
    assert completions.read_accepted(completions.decode(_raw(envelope), CONVERTER), at="now") == envelope
    assert completions.read_accepted("job-by-hand", at="now") == StageAccepted(1, "now", result="job-by-hand")
    assert completions.read_accepted(None, at="now") == StageAccepted(1, "now")
    with pytest.raises(InvalidCallbackError, match="does not fit StageAccepted"):
        completions.read_accepted({"attempt": "one", "accepted_at": AT}, at="now")


def test_a_reconcile_answer_must_be_a_stage_check() -> None:
    check = StageCheck(job_found=True, callback=StageCallback(stage="kyc", status=CallbackStatus.FAILED, error="e"))
    assert completions.read_check(completions.decode(_raw(check), CONVERTER)) == check
    for bad in (None, "found", [True], {"job_found": True, "callback": {"status": "completed"}}):
        with pytest.raises(InvalidCallbackError):
            completions.read_check(bad)


def test_a_fetch_result_must_be_a_fetch_result() -> None:
    answer = FetchResult(meaning=Meaning.COMPLETED, result={"url": "u"})
    value = completions.decode(_raw(answer), CONVERTER)
    assert completions.read_typed(FetchResult, value, "the fetch") == answer
    with pytest.raises(InvalidCallbackError, match="the fetch does not fit FetchResult"):
        completions.read_typed(FetchResult, {"meaning": "maybe"}, "the fetch")
    with pytest.raises(InvalidCallbackError, match="must be an object"):
        completions.read_typed(FetchResult, "done", "the fetch")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(["stage", "status", "result", "error", "callback_id", "progress", "attempt", "callback_at"])
_objects = st.dictionaries(_keys, _json | st.sampled_from(["completed", "failed", "progress", 1, AT]), max_size=5)


@given(st.one_of(_json, _objects))
def test_any_json_is_read_or_refused_never_anything_else(value: Any) -> None:
    """Whatever JSON arrives: a completion, a manual callback, or InvalidCallbackError; no other exception."""
    payload = CONVERTER.to_payload(json.loads(json.dumps(value)))
    try:
        got = completions.read_completion(completions.decode(RawValue(payload), CONVERTER), stage=1, received_at=AT)
    except InvalidCallbackError:
        return
    assert isinstance(got, StageCompletion | StageCallback)
    if isinstance(got, StageCallback):
        assert got.stage == 1
        assert got.status is not CallbackStatus.PROGRESS
