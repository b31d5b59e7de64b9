"""The three callback POSTs as bare ASGI, in front of Litestar: the hot path of the callback server.

Litestar's request machinery (routing, its exception middleware, the Request object, the response classes) cost
about a tenth of the server's CPU per callback for a route that reads a query, a body and answers JSON. This path
serves exactly `POST /callbacks/{signal,token,update}` itself and does what Litestar did around the handler:
clears the log context, reads the body under the same size limit (413 on the announced or the streamed size),
parses the query the same way, answers refusals with the same JSON bodies and codes (`handling.CallbackHandling`
decides both paths' answers), and runs inside the same tracing middleware when tracing is on. Everything else
(other methods and paths, a trailing slash, OpenAPI, health, metrics, hooks) is Litestar's, whose routes for the
callbacks stay: they document them, and answer what the fast path leaves to them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

import msgspec
import structlog
from litestar.enums import ScopeType

from app.callbacks.handling import Answer, CallbackHandling, Headers, Refusal
from app.callbacks.modes.spec import ModeSpec
from app.errors import CallbackRefusedError

if TYPE_CHECKING:
    from litestar.types import HTTPScope, LifeSpanScope, Message, Receive, Scope, Send

_ENCODER = msgspec.json.Encoder()
_JSON = (b"content-type", b"application/json")
# What Litestar says for the same cases (its RequestEntityTooLarge / InternalServerException / ClientException).
_TOO_LARGE = "Request Entity Too Large"
_GONE = "client disconnected prematurely"


class HttpRefusalError(Exception):
    """A request the HTTP layer refuses before the callback is read: a body over the limit, a client gone."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class CallbackFastPath:
    """Serves the callback routes of `specs` as bare ASGI; `serves(scope)` says which requests are its own."""

    def __init__(self, handling: CallbackHandling, specs: Iterable[ModeSpec], *, max_body_bytes: int | None) -> None:
        self.handling = handling
        self.routes = {spec.path: spec for spec in specs}
        self.max_body_bytes: float = max_body_bytes or math.inf  # as Litestar: no limit set, none applied

    def serves(self, scope: Scope | LifeSpanScope) -> bool:
        """A POST to exactly one of the callback paths."""
        if scope["type"] != ScopeType.HTTP:
            return False
        http = cast("HTTPScope", scope)
        return http["method"] == "POST" and http["path"] in self.routes

    async def __call__(self, any_scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one callback (a request `serves` said yes to)."""
        structlog.contextvars.clear_contextvars()  # as the Litestar app's before_request hook
        scope = cast("HTTPScope", any_scope)
        path = scope["path"]
        headers: Headers = scope["headers"]
        answer: Answer | Refusal
        try:
            answer = await self.handling.take(
                self.routes[path],
                parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True, separator="&"),
                headers,
                lambda: self._body(headers, receive),
            )
        except CallbackRefusedError as err:
            answer = self.handling.refused(path, err)
        except HttpRefusalError as err:
            answer = self.handling.http_error(path, err.status_code, err.detail)
        except Exception as err:  # noqa: BLE001  # a bug: logged with its traceback, answered 500 as by Litestar
            answer = self.handling.unexpected(scope["method"], path, err)
        await _send_answer(send, answer)

    async def _body(self, headers: Headers, receive: Receive) -> bytes:
        """The whole body, refused past the limit as soon as the announced or the streamed size is over it."""
        announced = _content_length(headers)
        if announced is not None and announced > self.max_body_bytes:
            raise HttpRefusalError(413, _TOO_LARGE)
        chunks: list[bytes] = []
        total = 0
        while True:
            event = cast("dict[str, Any]", await receive())
            if event["type"] == "http.request":
                chunk: bytes = event.get("body", b"")
                if chunk:
                    total += len(chunk)
                    if total > self.max_body_bytes:
                        raise HttpRefusalError(413, _TOO_LARGE)
                    chunks.append(chunk)
                if not event.get("more_body", False):
                    return b"".join(chunks)
            elif event["type"] == "http.disconnect":
                raise HttpRefusalError(500, _GONE)


def _content_length(headers: Headers) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.decode("latin-1")
            try:
                return int(text)
            except ValueError:
                raise HttpRefusalError(400, f"Invalid content-length: {text!r}") from None
    return None


async def _send_answer(send: Send, answer: Answer | Refusal) -> None:
    """Head and body as Litestar sends them: extra headers first, then the content type and length."""
    body = _ENCODER.encode(answer.body)
    extra = answer.headers if isinstance(answer, Refusal) and answer.headers is not None else {}
    head = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
    head += [_JSON, (b"content-length", str(len(body)).encode("latin-1"))]
    start: Message = {"type": "http.response.start", "status": answer.status_code, "headers": head}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
