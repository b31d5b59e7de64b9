"""The substitution syntax: reading placeholders, and filling them in (one pass, typed, encoded where it must be)."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import TemplateError
from app.pipeline.template import Context, Place, Ref, parse, render_json, render_text
from app.pipeline.types import StageOutput
from app.runtime.config import load_settings, pipeline_env_from

CTX = Context(
    input={"video": "a b/c.mov", "size": 3, "tags": ["x", "y"], "meta": {"k": None}},
    stages={
        "transcode": StageOutput(
            outcome="completed", result={"job_id": "job-1", "files": [{"url": "u1"}]}, answer_id=7
        ),
        "silent": StageOutput(outcome="completed", result=None),
    },
    env={"TOKEN": "s3cret", "BASE": "http://svc.local:9"},
    idempotency_key="wf/run/publish",
    workflow_id="wf",
    stage="publish",
    callback_url="http://cb.local/callbacks/signal?wf=wf&sig=abc",
)


def test_parse_splits_text_and_placeholders() -> None:
    assert parse("a ${input.x} b $${literal} ${ env.T:-d }") == [
        "a ",
        Ref("input", ("x",), None, "${input.x}"),
        " b ${literal} ",
        Ref("env", ("T",), "d", "${env.T:-d}"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${nope}", "unknown substitution ${nope}"),
        ("${input", "unterminated placeholder"),
        ("${stages.a}", "name a stage and a field"),
        ("${stages.a.answer_id.x}", "only 'result' has fields"),
        ("${callback_url.x}", "has no fields"),
        ("${input.a..b}", "not a valid path segment"),
        ("${input.x:-d}", "allowed only for ${env.NAME:-default}"),
        ("${env.1A}", "not an environment variable name"),
    ],
)
def test_unreadable_placeholders(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("${input.size}", 3),  # a whole-value placeholder keeps its type
        ("${input.tags}", ["x", "y"]),
        ("${input.meta.k}", None),
        ("${stages.transcode.answer_id}", 7),
        ("${stages.transcode.result.files.0.url}", "u1"),
        ("size=${input.size} tags=${input.tags}", 'size=3 tags=["x","y"]'),  # inside text: JSON
        ("$${input.size}", "${input.size}"),
        ("${callback_url}", CTX.callback_url),
        ("${idempotency_key}/${workflow_id}/${stage}", "wf/run/publish/wf/publish"),
    ],
)
def test_body_values(template: str, value: Any) -> None:
    assert render_json({"k": [template]}, CTX) == {"k": [value]}


def test_url_values_are_percent_encoded_but_env_is_not() -> None:
    url = render_text("${env.BASE}/v/${input.video}?cb=${callback_url}&k=${idempotency_key}", CTX, Place.URL)
    assert url == (
        "http://svc.local:9/v/a%20b%2Fc.mov?cb=http%3A%2F%2Fcb.local%2Fcallbacks%2Fsignal%3Fwf%3Dwf%26sig%3Dabc"
        "&k=wf%2Frun%2Fpublish"
    )


def test_headers_take_env_and_refuse_line_breaks() -> None:
    assert render_text("Bearer ${env.TOKEN}", CTX, Place.HEADER) == "Bearer s3cret"
    assert render_text("${env.MISSING:-fallback}", CTX, Place.HEADER) == "fallback"
    evil = Context(**{**CTX.__dict__, "input": {"v": "x\r\nX-Evil: 1"}})
    with pytest.raises(TemplateError, match="line break"):
        render_text("${input.v}", evil, Place.HEADER)


def test_one_pass_a_value_is_never_expanded_again() -> None:
    sneaky = Context(**{**CTX.__dict__, "input": {"v": "${env.TOKEN}"}})
    assert render_text("Bearer ${input.v}", sneaky, Place.HEADER) == "Bearer ${env.TOKEN}"
    assert render_json("${input.v}", sneaky) == "${env.TOKEN}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${env.NOPE}", "environment variable NOPE is not set on the worker"),
        ("${input.missing}", "input has no 'missing'"),
        ("${input.tags.5}", "input.tags has 2 item(s), no index 5"),
        ("${input.size.x}", "input.size is a number, it has no 'x'"),
        ("${stages.silent.result.job_id}", "stage 'silent' ended completed without result"),
        ("${stages.other.result}", "stage 'other' has no output here"),
    ],
)
def test_what_cannot_be_filled_in_says_what_is_missing(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_text(template, CTX, Place.HEADER)
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_env_exposed_to_pipelines_is_an_allow_list() -> None:
    env = {"SERVICE_URL": "u", "PIPELINE_KEY": "k", "CALLBACK_SIGNING_SECRETS": "x" * 32, "AWS_SECRET_ACCESS_KEY": "y"}
    assert pipeline_env_from(env) == {"SERVICE_URL": "u", "PIPELINE_KEY": "k"}
    assert pipeline_env_from({**env, "STAGEGATE_PIPELINE_ENV": "AWS_*, PIPELINE_KEY"}) == {
        "AWS_SECRET_ACCESS_KEY": "y",
        "PIPELINE_KEY": "k",
    }
    settings = load_settings({**env, "STAGEGATE_PIPELINE_ENV": ""})
    assert settings.pipeline_env == {}
    assert "PIPELINE_KEY" not in repr(load_settings(env))
