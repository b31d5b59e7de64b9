"""Reading pipeline files: every kind of bad file gets ONE error naming the file, the line, the stage and the field.

Plain pytest, no server: `parse_pipeline` is all that stands between a file and a run.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.errors import InputError, PipelineError
from app.gate.types import Mode
from app.pipeline.file import check_input, load_pipeline, parse_pipeline
from app.pipeline.types import OnFailure
from tests.pipeline.harness import EXAMPLES

GOOD = """\
version: 1
name: good
input:
  example: {video: a.mov, title: T}
stages:
  - name: first
    request:
      url: "${env.BASE:-http://127.0.0.1:8001}/request"
      body: {callback_url: "${callback_url}", video: "${input.video}"}
  - name: second
    timeout: 90s
    mode: token
    on_failure: continue
    request:
      method: put
      url: "http://svc.example/items/${stages.first.answer_id}"
      headers: {Authorization: "Bearer ${env.TOKEN}"}
      body: {asset: "${stages.first.result.job_id}", title: "${input.title}", notify: {url: "${callback_url}"}}
    answer_id: data.id
    status:
      url: "http://svc.example/jobs?key=${idempotency_key}"
      callback_at: 0.final
"""


def _bad(text: str) -> PipelineError:
    with pytest.raises(PipelineError) as caught:
        parse_pipeline(textwrap.dedent(text), source="bad.yaml")
    return caught.value


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_the_good_file_reads_into_typed_stages() -> None:
    pipeline = parse_pipeline(GOOD, source="good.yaml")
    first, second = pipeline.stages
    assert (first.name, first.request.method, first.timeout_seconds, first.mode) == ("first", "POST", 300.0, None)
    assert (second.request.method, second.timeout_seconds, second.mode) == ("PUT", 90.0, Mode.TOKEN)
    assert second.on_failure is OnFailure.CONTINUE
    assert second.uses_stages == ["first"]
    assert second.answer_id == "data.id"
    assert second.status is not None
    assert second.status.callback_at == "0.final"
    assert pipeline.input_example == {"video": "a.mov", "title": "T"}
    assert len(pipeline.digest) == 64


def test_the_example_files_are_valid() -> None:
    names = {load_pipeline(path).name for path in sorted(EXAMPLES.glob("*.yaml"))}
    assert names == {
        "demo",
        "transcode-publish",
        "replicate-style",
        "assemblyai-style",
        "twilio-style",
        "stripe-style",
        "stripe-own-id-style",
        "twilio-fixed-style",
    }


# (case, file text, line, stage, field, what the message says). Stage None: the error is not about one stage.
BAD: list[tuple[str, str, int | None, str | None, str | None, str]] = [
    ("yaml-syntax", _edit("name: good", "name: [good"), 3, None, None, "not valid YAML"),
    ("duplicate-yaml-key", _edit("name: good", "name: good\nname: again"), 3, None, None, "duplicate key"),
    ("not-a-mapping", "- just\n- a list\n", 1, None, None, "must hold a mapping"),
    ("unknown-top-key", _edit("name: good", "name: good\nstagse: []"), 3, None, "stagse", "did you mean 'stages'"),
    ("missing-version", GOOD.replace("version: 1\n", ""), 1, None, "version", "missing"),
    ("unsupported-version", _edit("version: 1", "version: 2"), 1, None, "version", "unsupported version 2"),
    ("bad-pipeline-name", _edit("name: good", "name: my pipeline"), 2, None, "name", "not a pipeline name"),
    ("no-stages", GOOD.split("stages:", maxsplit=1)[0] + "stages: []\n", 5, None, "stages", "non-empty list"),
    (
        "unknown-stage-key",
        _edit("    timeout: 90s", "    timout: 90s"),
        11,
        "'second'",
        "timout",
        "did you mean 'timeout'",
    ),
    (
        "unknown-request-key",
        _edit("      method: put", "      verb: put"),
        15,
        "'second'",
        "request.verb",
        "unknown key",
    ),
    ("missing-stage-name", _edit("  - name: first\n    request:", "  - request:"), 6, "#1", "name", "missing"),
    ("bad-stage-name", _edit("name: first", "name: 1st"), 6, "'1st' (#1)", "name", "not a stage name"),
    (
        "duplicate-stage-name",
        _edit("name: second", "name: first"),
        10,
        "'first' (#2)",
        "name",
        "duplicate stage name 'first' (first used on line 6)",
    ),
    (
        "missing-request",
        _edit("  - name: first\n    request:\n", "  - name: first\n    xrequest:\n"),
        7,
        "'first'",
        "xrequest",
        "unknown key",
    ),
    (
        "missing-url",
        _edit('      url: "${env.BASE:-http://127.0.0.1:8001}/request"\n', ""),
        8,
        "'first'",
        "request.url",
        "missing",
    ),
    (
        "not-http-url",
        _edit("http://svc.example/items", "ftp://svc.example/items"),
        16,
        "'second'",
        "request.url",
        "not an http(s) URL",
    ),
    ("bad-method", _edit("method: put", "method: FETCH"), 15, "'second'", "request.method", "unknown method 'FETCH'"),
    ("get-with-body", _edit("method: put", "method: GET"), 18, "'second'", "request.body", "GET request has no body"),
    (
        "unknown-substitution",
        _edit('"${callback_url}", video', '"${callbak_url}", video'),
        9,
        "'first'",
        "request.body",
        "unknown substitution ${callbak_url}",
    ),
    (
        "unterminated-placeholder",
        _edit('"${input.video}"', '"${input.video"'),
        9,
        "'first'",
        "request.body",
        "unterminated placeholder",
    ),
    (
        "later-stage",
        _edit('video: "${input.video}"', 'video: "${stages.second.result}"'),
        9,
        "'first'",
        "request.body",
        "stage 'second' comes later",
    ),
    (
        "own-stage",
        _edit("${stages.first.answer_id}", "${stages.second.answer_id}"),
        16,
        "'second'",
        "request.url",
        "cannot use its own output",
    ),
    (
        "unknown-stage",
        _edit("${stages.first.result.job_id}", "${stages.encode.result.job_id}"),
        18,
        "'second'",
        "request.body",
        "there is no stage 'encode'",
    ),
    (
        "unknown-stage-field",
        _edit("${stages.first.result.job_id}", "${stages.first.output}"),
        18,
        "'second'",
        "request.body",
        "unknown stage field 'output'",
    ),
    (
        "env-in-body",
        _edit('title: "${input.title}"', 'title: "${env.TITLE}"'),
        18,
        "'second'",
        "request.body",
        "allowed only in url and headers",
    ),
    (
        "callback-in-status",
        _edit("key=${idempotency_key}", "cb=${callback_url}"),
        21,
        "'second'",
        "status.url",
        "has no callback URL",
    ),
    (
        "bad-env-name",
        _edit("${env.TOKEN}", "${env.API-KEY}"),
        17,
        "'second'",
        "request.headers.Authorization",
        "not an environment variable name",
    ),
    ("zero-timeout", _edit("timeout: 90s", "timeout: 0"), 11, "'second'", "timeout", "must be positive"),
    ("negative-timeout", _edit("timeout: 90s", "timeout: -5"), 11, "'second'", "timeout", "must be positive"),
    ("unreadable-timeout", _edit("timeout: 90s", "timeout: soon"), 11, "'second'", "timeout", "not a duration"),
    (
        "unknown-mode",
        _edit("mode: token", "mode: carrier-pigeon"),
        12,
        "'second'",
        "mode",
        "unknown mode 'carrier-pigeon'",
    ),
    (
        "unknown-on-failure",
        _edit("on_failure: continue", "on_failure: retry"),
        13,
        "'second'",
        "on_failure",
        "unknown value 'retry'",
    ),
    (
        "header-not-text",
        _edit('{Authorization: "Bearer ${env.TOKEN}"}', "{X-Retries: 3}"),
        17,
        "'second'",
        "request.headers.X-Retries",
        "must be text",
    ),
    (
        "bad-header-name",
        _edit('{Authorization: "Bearer ${env.TOKEN}"}', '{"Bad Header": x}'),
        17,
        "'second'",
        "request.headers",
        "not a header name",
    ),
    (
        "bad-answer-id",
        _edit("answer_id: data.id", "answer_id: data..id"),
        19,
        "'second'",
        "answer_id",
        "not a dotted path",
    ),
    (
        "status-without-url",
        _edit('      url: "http://svc.example/jobs?key=${idempotency_key}"\n', ""),
        21,
        "'second'",
        "status.url",
        "missing",
    ),
    (
        "yaml-date-in-body",
        _edit('title: "${input.title}"', "title: 2026-01-01"),
        18,
        "'second'",
        "request.body",
        "YAML date",
    ),
    (
        "example-misses-input",
        _edit("example: {video: a.mov, title: T}", "example: {video: a.mov}"),
        4,
        None,
        "input.example",
        "uses ${input.title}, but input has no 'title'",
    ),
    (
        "bad-schema",
        _edit("  example:", "  schema: {type: 12}\n  example:"),
        4,
        None,
        "input.schema",
        "not a valid JSON Schema",
    ),
    (
        "example-against-schema",
        _edit("  example:", "  schema: {type: object, required: [size]}\n  example:"),
        5,
        None,
        "input.example",
        "'size' is a required property",
    ),
    (
        "wait-not-a-mapping",
        _edit("    timeout: 90s", "    timeout: 90s\n    wait: esign"),
        12,
        "'second'",
        "wait",
        "must be a mapping (source, key)",
    ),
    (
        "wait-unknown-key",
        _edit("    timeout: 90s", "    timeout: 90s\n    wait: {source: esign, key: k, ttl: 5}"),
        12,
        "'second'",
        "wait.ttl",
        "unknown key",
    ),
    (
        "wait-bad-source",
        _edit("    timeout: 90s", "    timeout: 90s\n    wait: {source: E Sign, key: k}"),
        12,
        "'second'",
        "wait.source",
        "not a source name",
    ),
    (
        "wait-missing-key",
        _edit("    timeout: 90s", "    timeout: 90s\n    wait: {source: esign}"),
        12,
        "'second'",
        "wait.key",
        "missing",
    ),
    (
        "wait-key-bad-reference",
        _edit("    timeout: 90s", "    timeout: 90s\n    wait: {source: esign, key: 'env-${env.X}'}"),
        12,
        "'second'",
        "wait.key",
        "a key is '${answer}'",
    ),
    (
        "wait-key-own-id-inside-text",  # the stage's own ID is the whole key or nothing
        _edit("    timeout: 90s", "    timeout: 90s\n    wait: {source: esign, key: 'k-${idempotency_key}'}"),
        12,
        "'second'",
        "wait.key",
        "'${idempotency_key}' (the stage's own ID)",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "stage", "field", "message"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_file_names_file_line_stage_and_field(
    text: str, line: int | None, stage: str | None, field: str | None, message: str
) -> None:
    error = _bad(text)
    shown = str(error)
    assert shown.startswith(f"bad.yaml:{line}: " if line else "bad.yaml: "), shown
    assert error.line == line, shown
    if stage is None:
        assert error.stage is None, shown
    else:
        assert error.stage is not None, shown
        assert stage in error.stage, shown
        assert f"stage {error.stage}" in shown
    assert error.field == field, shown
    if field:
        assert f": {field}: " in shown
    assert message in shown, shown
    assert "\n" not in shown  # one line


def test_there_are_at_least_twelve_kinds() -> None:
    assert len({case[0] for case in BAD}) >= 12


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as caught:
        load_pipeline(tmp_path / "nope.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'nope.yaml'}: cannot read the file")


def test_wait_takes_the_answer_the_input_or_plain_text() -> None:
    for key in ("${answer}", "${answer.data.id}", "${input.envelope}", "env_42"):
        text = _edit("    timeout: 90s", f"    timeout: 90s\n    wait: {{source: esign, key: '{key}'}}")
        wait = parse_pipeline(text, source="wait.yaml").stage("second").wait
        assert wait is not None
        assert (wait.source, wait.key) == ("esign", key)


def test_defaults_apply_and_stages_override() -> None:
    text = GOOD.replace("stages:\n", "defaults: {timeout: 2m, mode: update, on_failure: continue}\nstages:\n", 1)
    first, second = parse_pipeline(text).stages
    assert (first.timeout_seconds, first.mode, first.on_failure) == (120.0, Mode.UPDATE, OnFailure.CONTINUE)
    assert (second.timeout_seconds, second.mode) == (90.0, Mode.TOKEN)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("1500ms", 1.5), (45, 45.0), (2.5, 2.5), ("3h", 10800.0), ("1d", 86400.0)]
)
def test_timeouts(raw: object, seconds: float) -> None:
    assert parse_pipeline(GOOD.replace("timeout: 90s", f"timeout: {raw}")).stages[1].timeout_seconds == seconds


def test_input_is_checked_against_schema_and_references() -> None:
    text = GOOD.replace("  example:", "  schema: {type: object, properties: {video: {type: string}}}\n  example:")
    pipeline = parse_pipeline(text)
    check_input(pipeline, {"video": "b.mov", "title": "x"})
    with pytest.raises(InputError, match="schema at video: 3 is not of type 'string'"):
        check_input(pipeline, {"video": 3, "title": "x"})
    with pytest.raises(InputError, match=r"stage 'second' uses \$\{input.title\}, but input has no 'title'"):
        check_input(pipeline, {"video": "b.mov"})
    with pytest.raises(InputError, match="must be a JSON object"):
        check_input(pipeline, [1])
