"""A stage's `callback:` key: read into a CallbackShape, or refused at validation with the line that is wrong."""

from __future__ import annotations

import pytest

from app.errors import PipelineError
from app.gate.shapes import BodyFormat, CallbackShape
from app.pipeline.file import load_pipeline
from tests.pipeline.harness import EXAMPLES, pipeline_from

HEAD = """\
version: 1
name: shaped
stages:
  - name: predict
    request: {url: "http://vendor.test/run", body: {webhook: "${callback_url}"}}
    callback:
"""


def test_a_callback_key_becomes_the_stage_shape() -> None:
    text = HEAD + (
        "      body: form\n"
        "      outcome: MessageStatus\n"
        "      values: {completed: delivered, failed: [failed, undelivered], progress: [sent], ignore: [queued]}\n"
        "      error: ErrorCode\n"
    )
    shape = pipeline_from(text).stages[0].callback
    assert shape == CallbackShape(
        body=BodyFormat.FORM,
        outcome="MessageStatus",
        completed=["delivered"],
        failed=["failed", "undelivered"],
        progress=["sent"],
        ignore=["queued"],
        error="ErrorCode",
    )


def test_yaml_booleans_and_numbers_are_compared_as_json_text() -> None:
    shape = pipeline_from(HEAD + "      outcome: ok\n      values: {completed: [true, 1], failed: [false]}\n")
    assert shape.stages[0].callback is not None
    assert shape.stages[0].callback.completed == ["true", "1"]


@pytest.mark.parametrize(
    ("callback", "line", "message"),
    [
        ("      outcome: s\n      values: {completed: [ok], failed: [ok]}\n", 6, "'ok' is mapped twice"),
        ("      body: form\n      outcome: a.b\n      values: {completed: [ok]}\n", 6, "a form body has only flat"),
        ("      outcome: s\n      values: {failed: [x]}\n", 6, "no value means completed"),
        ("      outcome: s\n      values: {done: [x]}\n", 8, "callback.values.done: unknown key"),
        ("      outcome: s\n      values: {completed: [{a: 1}]}\n", 8, "must be a value or a list"),
        ("      outcome: s\n", 7, "callback.values: missing"),
        ("      body: xml\n      outcome: s\n      values: {completed: [x]}\n", 7, "unknown body 'xml'"),
        ("      outcom: s\n      values: {completed: [x]}\n", 7, "did you mean 'outcome'"),
        ("      outcome: s\n      outcome_header: X-S\n      values: {completed: [x]}\n", 6, "exactly one of"),
    ],
)
def test_a_callback_that_cannot_work_is_refused_at_validation(callback: str, line: int, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as refused:
        pipeline_from(HEAD + callback)
    assert refused.value.line == line, str(refused.value)


@pytest.mark.parametrize("name", ["replicate_style.yaml", "assemblyai_style.yaml", "twilio_style.yaml"])
def test_the_example_files_have_a_shape(name: str) -> None:
    assert load_pipeline(EXAMPLES / name).stages[0].callback is not None
