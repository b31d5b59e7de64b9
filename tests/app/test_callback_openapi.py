"""The callback routes' OpenAPI schema is complete: every query parameter, the body, every answer."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.callbacks.server import create_app
from app.callbacks.wire import CallbackBody
from app.gate.types import Mode
from app.runtime.config import load_settings

QUERY = {"wf", "stage", "attempt", "exp", "snd", "sig"}
HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature"}
ERRORS = {"400", "401", "403", "404", "409", "413", "500", "502", "503"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document: dict[str, Any] = create_app(load_settings({})).openapi_schema.to_schema()
    return document


@pytest.mark.parametrize("mode", list(Mode))
def test_every_query_parameter_and_header(schema: dict[str, Any], mode: Mode) -> None:
    operation = schema["paths"][f"/callbacks/{mode.value}"]["post"]
    by_place: dict[str, set[str]] = {}
    for parameter in operation["parameters"]:
        by_place.setdefault(parameter["in"], set()).add(parameter["name"])
    assert by_place["query"] == QUERY | ({"run", "act", "token"} if mode is Mode.TOKEN else set())
    assert by_place["header"] == HEADERS
    required = {p["name"] for p in operation["parameters"] if p.get("required")}
    # Token mode: `run` + `act`, or an older URL's `token`; neither form alone is required by the schema.
    assert required == {"wf", "stage", "attempt", "exp", "sig"}


@pytest.mark.parametrize("mode", list(Mode))
def test_the_body_and_every_answer(schema: dict[str, Any], mode: Mode) -> None:
    operation = schema["paths"][f"/callbacks/{mode.value}"]["post"]
    body = operation["requestBody"]
    assert body.get("required", False) is False  # an empty body means "completed"
    properties = body["content"]["application/json"]["schema"]["properties"]
    assert set(properties) == set(CallbackBody.__struct_fields__)
    assert properties["status"]["enum"] == sorted(
        msgspec.json.schema(CallbackBody)["$defs"]["CallbackBody"]["properties"]["status"]["enum"]
    )
    success = "200" if mode is Mode.UPDATE else "202"
    assert set(operation["responses"]) == {success} | ERRORS
    for status in ERRORS:
        content = operation["responses"][status]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/ErrorBody"}
    assert operation["responses"]["503"]["headers"]["Retry-After"]["required"] is True
