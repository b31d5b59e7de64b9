"""Values of pipeline runs that cross Temporal boundaries: the parsed definition, run input/result, activity calls.

A pipeline file is parsed and validated (`app.pipeline.file`) BEFORE a run starts, and the whole definition
travels in `PipelineRunInput`: editing the file never changes a run in flight, and replay stays deterministic.
Add fields with defaults at the end; never reorder or remove (running workflows and recorded histories carry
the old shapes).
"""

# No `from __future__ import annotations` here: the SDK resolves these dataclasses' field types inside the
# workflow sandbox, where string annotations would be looked up in a module the sandbox may not hold.
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.gate.shapes import CallbackShape, FetchSpec
from app.gate.types import OWN_STAGE_ID, GateState, Mode, Rejection, StageKey, StageRecord, WaitingFor

PIPELINE_WORKFLOW_NAME = "PipelineWorkflow"
ACTIVITY_PIPELINE_REQUEST = "pipeline_http_request"
ACTIVITY_PIPELINE_STATUS = "pipeline_check_status"
QUERY_PIPELINE_STATUS = "pipeline_status"

# The schema version this code reads; a file states the version it was written for.
PIPELINE_VERSION = 1
DEFAULT_STAGE_TIMEOUT_SECONDS = 300.0

# ApplicationError type of a stage whose request could not be built at run time (an environment variable the
# worker does not have, a value an earlier stage did not deliver): non-retryable, the stage fails with it.
ERR_PIPELINE_TEMPLATE = "PipelineTemplateError"
# A request the egress policy refuses (host off STAGEGATE_EGRESS_HOSTS, a metadata/link-local address, an
# `${env...}` value for a host it is not bound to), and a 3xx answer (never followed): non-retryable.
ERR_EGRESS_REFUSED = "EgressRefused"
ERR_REDIRECT_REFUSED = "RedirectRefused"


class OnFailure(StrEnum):
    """What a stage that does not complete (failed, cancelled, timed out) does to the run."""

    FAIL = "fail"  # the run fails with the stage's typed error (StageFailed / StageCancelled / StageTimedOut)
    CONTINUE = "continue"  # the run goes on; the stage's record keeps its outcome and error


@dataclass(frozen=True)
class HttpRequestSpec:
    """An HTTP request with `${...}` placeholders (templates); rendered inside the activity."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # Any JSON value; string leaves may hold placeholders. None: no body.
    body: Any = None


@dataclass(frozen=True)
class StatusSpec:
    """How to ask the service about a stage before timing it out (reconcile): GET `url`."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # Dotted path to a callback-shaped object (`status`, `result`, `error`, ...) in the JSON answer;
    # empty: the whole answer. Nothing there (or status `progress`): the work is not finished.
    callback_at: str = ""


# `wait.key`: `${answer}`, `${answer.PATH}`, `${input.PATH}`, `${idempotency_key}` (the stage's own ID), or text.
WAIT_KEY_REF = re.compile(r"\$\{(answer|input)(?:\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*))?\}")


def wait_key_ref(key: str) -> tuple[str, str] | None:
    """`("answer"|"input", path)` for a `wait.key` that refers to the answer or the input ("" path: all of
    it), `("idempotency_key", "")` for the stage's own ID; None for plain text."""
    if key == OWN_STAGE_ID:
        return ("idempotency_key", "")
    found = WAIT_KEY_REF.fullmatch(key)
    return None if found is None else (found.group(1), found.group(2) or "")


@dataclass(frozen=True)
class WaitSpec:
    """A stage that waits on a fixed endpoint (`wait: {source, key}`): events of `source` with this key.

    `key` is one of: `${answer}` / `${answer.PATH}` (read from the stage request's JSON answer, in the worker),
    `${input.PATH}` (the run's input, known up front), `${idempotency_key}` (the stage's own ID, for a vendor
    that echoes it from the request), or literal text.
    """

    source: str
    key: str


@dataclass(frozen=True)
class StageSpec:
    """One stage of a pipeline, validated."""

    name: str
    request: HttpRequestSpec
    timeout_seconds: float = DEFAULT_STAGE_TIMEOUT_SECONDS
    # None: the run's mode.
    mode: Mode | None = None
    # Dotted path of the service's answer id in the request's JSON response (kept as the stage's request_result).
    answer_id: str | None = None
    status: StatusSpec | None = None
    on_failure: OnFailure = OnFailure.FAIL
    # Earlier stages this stage's templates refer to (their outputs go with the activity call).
    uses_stages: list[str] = field(default_factory=list)
    # The service's own callback body (None: stagegate's own body).
    callback: CallbackShape | None = None
    # Notify, then fetch: GET the result after a completed callback.
    fetch: FetchSpec | None = None
    # A fixed endpoint: the stage waits on a source and key instead of a callback to its own URL.
    wait: WaitSpec | None = None


@dataclass(frozen=True)
class Pipeline:
    """A whole pipeline definition, validated; what a run executes."""

    name: str
    stages: list[StageSpec]
    version: int = PIPELINE_VERSION
    description: str = ""
    input_example: dict[str, Any] | None = None
    input_schema: dict[str, Any] | None = None
    # Where it was read from and the sha256 of the file's bytes: shown by the CLI, kept in history.
    source: str = ""
    digest: str = ""

    def stage(self, name: str) -> StageSpec:
        """The stage called `name`."""
        for spec in self.stages:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class PipelineRunInput:
    """Input of one pipeline run: the definition itself (never a file path), the run's input and mode."""

    pipeline: Pipeline
    input: dict[str, Any] = field(default_factory=dict)
    mode: Mode = Mode.SIGNAL
    # The gate's whole state, carried by continue-as-new.
    gate: GateState | None = None


@dataclass(frozen=True)
class StageOutput:
    """What an earlier stage left for later ones to refer to (`${stages.NAME.result...}`, ...)."""

    outcome: str
    result: dict[str, Any] | None = None
    answer_id: Any = None
    error: str | None = None


@dataclass(frozen=True)
class HttpStageCall:
    """Input of the generic HTTP stage activity: the stage's request template and what it may refer to."""

    pipeline: str
    stage: str
    request: HttpRequestSpec
    input: dict[str, Any] = field(default_factory=dict)
    earlier: dict[str, StageOutput] = field(default_factory=dict)
    answer_id: str | None = None
    # `wait:` with `${answer...}`: the dotted path of the key in the JSON answer ("" for the whole answer).
    hook_key_path: str | None = None


@dataclass(frozen=True)
class StatusCheckCall:
    """Input of the generic reconcile activity: GET the stage's status URL and read a callback from it."""

    pipeline: str
    stage: str
    status: StatusSpec
    idempotency_key: str
    workflow_id: str
    input: dict[str, Any] = field(default_factory=dict)
    earlier: dict[str, StageOutput] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineStatus:
    """Answer of the `pipeline_status` query: the gate's status plus which pipeline and how far."""

    pipeline: str
    mode: Mode
    stage_names: list[str]
    current_stage: StageKey | None
    waiting_for: WaitingFor
    stages: list[StageRecord]
    duplicates_ignored: int = 0
    rejected: int = 0
    last_rejections: list[Rejection] = field(default_factory=list)
    runs: int = 1


@dataclass(frozen=True)
class PipelineResult:
    """Result of a pipeline run; a failed run carries the same shape in its error details."""

    pipeline: str
    mode: Mode
    stages: list[StageRecord]
    started_at: str
    finished_at: str
    # Stages that did not complete but had `on_failure: continue`.
    continued_after: list[str] = field(default_factory=list)
    duplicates_ignored: int = 0
    rejected: int = 0
    runs: int = 1
    digest: str = ""
