"""Every error stagegate raises on purpose, under one base class, and the HTTP status of each callback error.

Catch `StagegateError` for all of them. Errors a caller can also treat as bad input stay `ValueError`s (settings,
pipeline files, run inputs, templates, callbacks a person typed), so code written before this hierarchy keeps
working. The callback server answers a `CallbackRefusedError` with the status its TYPE has in `HTTP_STATUS`
(the one table; `status_of` walks the class's MRO, so the most specific listed type wins) and a JSON body with
its stable `code` and its `message`.

Sandbox-safe: standard library only, so workflow code may import it.
"""

from __future__ import annotations


class StagegateError(Exception):
    """Base of every error stagegate raises on purpose."""


class SettingsError(StagegateError, ValueError):
    """An environment variable (or a settings value) holds something we cannot use."""


class NotAStageActivityError(StagegateError, RuntimeError):
    """`current_stage()` was called outside an activity the gate started (or without the gate's interceptor)."""


class InvalidCallbackError(StagegateError, ValueError):
    """A callback's content (stage key, status, progress) cannot be understood."""


class PathError(StagegateError, ValueError):
    """A dotted path (`app.gate.paths`) leads nowhere in the value it was applied to."""


class ShapeError(StagegateError, ValueError):
    """A callback shape (or fetch) that cannot work: refused when it is made, never when a callback arrives."""


# --- Pipelines: what a user sees before anything starts -------------------------------------------------------


class PipelineError(StagegateError, ValueError):
    """What is wrong with a pipeline file, and where: `FILE:LINE: stage 'NAME': FIELD: MESSAGE`."""

    def __init__(
        self, message: str, *, file: str, line: int | None = None, stage: str | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.stage = stage
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.stage is not None:
            parts.append(f"stage {self.stage}")
        if self.field is not None:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class InputError(StagegateError, ValueError):
    """A run input the pipeline cannot take (its schema, or a value its stages refer to, is missing)."""


class TemplateError(StagegateError, ValueError):
    """A `${...}` reference that is malformed, not allowed where it is, or cannot be resolved."""


class EgressRefusedError(StagegateError, PermissionError):
    """A pipeline request the operator's egress policy does not allow (host, address or `${env...}` binding)."""


# --- Callbacks refused by the callback server: the type says the HTTP status ----------------------------------


class CallbackRefusedError(StagegateError):
    """A callback the server refuses; `code` is stable for machines, `message` is for people.

    `reason` is finer than `code`, for metrics (an expired URL answers `bad_signature` like a forged one; its
    reason is `expired`). Raise one of the subclasses below: the class decides the HTTP status.
    """

    default_code = "refused"

    def __init__(self, message: str, *, code: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.reason = reason or self.code

    @property
    def status_code(self) -> int:
        """The HTTP status the callback server answers with (decided by the type, see `HTTP_STATUS`)."""
        return status_of(self)


class BadCallbackError(CallbackRefusedError):
    """The request is malformed: bad JSON, a body or URL over a limit, a malformed header (400)."""

    default_code = "invalid_body"


class UnmappedOutcomeError(BadCallbackError):
    """A foreign callback body whose outcome value the stage's shape does not map (400; nothing advances)."""

    default_code = "unmapped_outcome"

    def __init__(self, message: str, *, field: str, value: str, accepted: list[str]) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.accepted = accepted


class UnauthenticatedCallbackError(CallbackRefusedError):
    """A credential is missing: the URL's signature parameters, a body signature a sender must send (401)."""

    default_code = "missing_parameter"


class ForbiddenCallbackError(CallbackRefusedError):
    """A credential is present but wrong, expired or names a sender without keys (403)."""

    default_code = "bad_signature"


class UnknownTargetError(CallbackRefusedError):
    """No such workflow, or a stage it does not have (404)."""

    default_code = "workflow_not_found"


class CallbackConflictError(CallbackRefusedError):
    """The target exists but cannot take this callback any more: closed, already completed, duplicate (409)."""

    default_code = "conflict"


class TemporalUnavailableError(CallbackRefusedError):
    """Temporal cannot be reached or is not ready (503 with Retry-After: the sender retries, nothing is lost)."""

    default_code = "temporal_unavailable"


class TemporalAnswerError(CallbackRefusedError):
    """Temporal answered with an error we cannot classify (502)."""

    default_code = "temporal_error"


class NotConfiguredError(CallbackRefusedError):
    """The server verified the request but has no way configured to take it further (501; the sender retries).

    Never silently dropped: a fixed-endpoint event (`/hooks/{source}`) that passed its signature check while no
    correlation delivers such events is answered 501 `correlation_not_configured`, so the vendor keeps it.
    """

    default_code = "correlation_not_configured"


class CallbackUrlError(ForbiddenCallbackError):
    """A callback URL is badly signed or expired (403); its subclasses: over a limit (400), incomplete (401)."""


class CallbackUrlOverLimitError(BadCallbackError, CallbackUrlError):
    """Too many query parameters, a workflow ID too long (400)."""

    default_code = "too_many_parameters"


class CallbackUrlMissingParameterError(UnauthenticatedCallbackError, CallbackUrlError):
    """A query parameter the signature needs is missing (401)."""

    default_code = "missing_parameter"


class BodySignatureError(ForbiddenCallbackError):
    """A body signature is wrong or outside its time window (403); subclasses: malformed (400), missing (401)."""

    default_code = "bad_body_signature"


class MalformedBodySignatureError(BadCallbackError, BodySignatureError):
    """A signature header that cannot be parsed (400)."""

    default_code = "malformed_body_signature"


class MissingBodySignatureError(UnauthenticatedCallbackError, BodySignatureError):
    """A signature header the sender must send is missing (401)."""

    default_code = "missing_body_signature"


# The one table: callback error type -> HTTP status. Subclasses not listed take their first listed base's.
HTTP_STATUS: dict[type[CallbackRefusedError], int] = {
    BadCallbackError: 400,
    UnauthenticatedCallbackError: 401,
    ForbiddenCallbackError: 403,
    UnknownTargetError: 404,
    CallbackConflictError: 409,
    NotConfiguredError: 501,
    TemporalAnswerError: 502,
    TemporalUnavailableError: 503,
}


def status_of(err: CallbackRefusedError) -> int:
    """The HTTP status of a refused callback: the first class of its MRO that `HTTP_STATUS` lists."""
    for cls in type(err).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    raise TypeError(f"{type(err).__name__} has no HTTP status: derive it from one of HTTP_STATUS's types")
