"""Turns Litestar validation failures into 400 bodies that name the offending field in plain words."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException
from litestar.response import Response
from litestar.status_codes import HTTP_400_BAD_REQUEST

from service_mock.logs import get_logger

_log = get_logger(__name__)

# msgspec names missing/unknown fields in backticks, while Litestar reports them under the body's
# parameter name ("data"), which tells a client nothing.
_FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`")
_BODY_PARAMETER = "data"


def _clarify(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    entry = dict(item)
    message = str(entry.get("message", ""))
    if entry.get("key") == _BODY_PARAMETER:
        named = _FIELD_IN_MESSAGE.search(message)
        entry["key"] = named.group(1) if named else "body"
    if entry.get("key") == "callback_url" and "matching regex" in message:
        entry["message"] = "Expected an absolute http:// or https:// URL"
    return entry


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """400 with Litestar's usual shape: {"status_code", "detail", "extra": [{"message", "key", "source"}]}."""
    body: dict[str, Any] = {"status_code": HTTP_400_BAD_REQUEST, "detail": exc.detail}
    if isinstance(exc.extra, list):
        body["extra"] = [_clarify(item) for item in exc.extra]
    elif exc.extra:
        body["extra"] = exc.extra
    _log.warning("request rejected", path=request.url.path, detail=exc.detail, errors=body.get("extra"))
    return Response(content=body, status_code=HTTP_400_BAD_REQUEST)
