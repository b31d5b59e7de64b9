"""The clients' data converter (app/runtime/data_converter.py): failure details another SDK encoded never raise."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.common import RawValue
from temporalio.converter import DataConverter, PayloadConverter
from temporalio.exceptions import ActivityError, ApplicationError

from app.runtime.data_converter import DATA_CONVERTER, LenientFailureConverter

BOGUS = Payload(metadata={"encoding": b"binary/bogus"}, data=b"\xff")


def _failure(*details: Payload) -> Failure:
    failure = Failure(message="rejected elsewhere")
    failure.application_failure_info.type = "Rejected"
    failure.application_failure_info.non_retryable = True
    failure.application_failure_info.details.payloads.extend(details)
    return failure


def test_undecodable_details_stay_raw_and_the_failure_gets_through() -> None:
    outer = Failure(message="activity failed", cause=_failure(BOGUS))
    outer.activity_failure_info.activity_type.name = "await_stage_callback"
    err = LenientFailureConverter().from_failure(outer, PayloadConverter.default)
    assert isinstance(err, ActivityError)
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.message, cause.type, cause.non_retryable) == ("rejected elsewhere", "Rejected", True)
    assert cause.details == (RawValue(BOGUS),)


def test_details_that_decode_are_decoded_as_before() -> None:
    details = PayloadConverter.default.to_payloads([{"why": "by hand"}, 3])
    err = LenientFailureConverter().from_failure(_failure(*details), PayloadConverter.default)
    assert isinstance(err, ApplicationError)
    assert err.details == ({"why": "by hand"}, 3)


def test_it_is_the_default_but_for_failures() -> None:
    assert isinstance(DATA_CONVERTER.failure_converter, LenientFailureConverter)
    assert DATA_CONVERTER.payload_converter_class is DataConverter.default.payload_converter_class
    assert DATA_CONVERTER.payload_codec is None
