"""What operators see of a pipeline run: the service each stage waits on, as its file declares it, and the
static summary and details a run starts with. Sandbox-safe (the workflow names each stage's service).
"""

from __future__ import annotations

from app.errors import TemplateError
from app.gate import operator_view
from app.gate.types import Mode
from app.pipeline.template import Ref, parse
from app.pipeline.types import HttpRequestSpec, Pipeline


def declared_service(request: HttpRequestSpec) -> str:
    """`POST api.example.com` from the stage's URL template, or `POST ${env.NAME}` when the host comes from the
    worker's environment (whose value never enters the workflow). Only method and host: never a path or query.
    """
    try:
        parts = parse(request.url)
    except TemplateError:
        return f"{request.method.upper()} (unreadable url)"
    first = parts[0] if parts else ""
    if isinstance(first, Ref):
        if first.root == "env" and first.path:
            return f"{request.method.upper()} ${{env.{first.path[0]}}}"
        return f"{request.method.upper()} (host from {first.root})"
    # A literal start: everything up to the first placeholder holds the scheme and (if literal) the host.
    return operator_view.service_label(request.method, first)


def start_summary(pipeline: Pipeline, mode: Mode) -> str:
    """The run's static summary: `pipeline `demo` · mode signal · 3 stages`."""
    return operator_view.run_summary(f"pipeline `{pipeline.name}`", mode.value, len(pipeline.stages))


def start_details(pipeline: Pipeline, mode: Mode) -> str:
    """The run's static details: the pipeline's description and digest, then each stage and its service."""
    lines = [
        operator_view.StageLine(
            name=s.name,
            mode=(s.mode or mode).value,
            timeout_seconds=s.timeout_seconds,
            service=declared_service(s.request),
        )
        for s in pipeline.stages
    ]
    description = (
        f"{pipeline.description} (digest `{pipeline.digest[:12]}`)" if pipeline.digest else pipeline.description
    )
    return operator_view.run_details(description, lines)
