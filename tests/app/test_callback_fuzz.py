"""Schemathesis over the callback routes' OpenAPI schema, against the session's callback server subprocess.

Bounded (a few dozen examples per route, derandomised so CI sees the same cases every run). A signing step
puts a valid URL signature (and a future expiry) on every generated query, so cases reach past the signature
into the body-signature checks (a generated `snd` names the sender the stack holds keys for), the body checks
and Temporal itself. Checked: no 5xx, and every answer is one the schema documents, with
the documented content type, headers and body.
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.callbacks.server import create_app
from app.gate.callback_urls import sign_query
from app.gate.types import Mode
from app.runtime.config import load_settings
from tests.stack import FUZZ_SENDER, SIGNING_SECRET, Stack

EXAMPLES_PER_ROUTE = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
_SIGNED = ("wf", "stage", "attempt", "token", "exp", "snd")


def sign_case(case: Case[Any]) -> None:
    """The signing hook: a valid `sig` over whatever was generated, with a future `exp` when it is a number."""
    mode = Mode(case.path.rsplit("/", 1)[1])
    query: dict[str, Any] = dict(case.query or {})
    if isinstance(query.get("exp"), str) and query["exp"].isascii() and query["exp"].isdigit():
        query["exp"] = str(int(time.time()) + 300)
    if isinstance(query.get("snd"), str):
        # The sender the stack holds keys for: the generated webhook-* headers meet the body-signature checks.
        query["snd"] = FUZZ_SENDER
    params = {name: value for name in _SIGNED if isinstance(value := query.get(name), str)}
    query["sig"] = sign_query(SIGNING_SECRET, mode, params)
    case.query = query


def _schema() -> dict[str, Any]:
    """The schema the callback server serves at /schema/openapi.json (the same object, built without a server)."""
    return create_app(load_settings({})).openapi_schema.to_schema()


SCHEMA = schemathesis.openapi.from_dict(_schema())


@SCHEMA.include(path_regex="^/callbacks/").parametrize()
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_callback_routes_conform_and_never_5xx(case: Case[Any], stack: Stack) -> None:
    sign_case(case)
    case.call_and_validate(base_url=stack.callback_url, checks=CHECKS, timeout=10)


def test_fuzzer_reaches_past_the_signature(stack: Stack) -> None:
    # The hook is what makes the fuzzing worth anything: a case it signed gets past the URL check, to Temporal.
    case = SCHEMA["/callbacks/signal"]["POST"].Case(
        query={"wf": f"fuzz-probe-{time.time_ns()}", "stage": "1", "attempt": "1", "exp": "1"}, body={}
    )
    sign_case(case)
    answer = case.call(base_url=stack.callback_url, timeout=10)
    assert (answer.status_code, answer.json()["error"]) == (404, "workflow_not_found"), answer.text
