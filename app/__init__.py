"""stagegate: Temporal workflows that wait at stage gates for external HTTP callbacks.

Everything a user needs is importable from here; nothing else in `app` is a public API.

Your workflow (safe inside the workflow sandbox: these names pull in no HTTP server or client)::

    StageGate(state=None, *, mode=Mode.SIGNAL, stages=None)   in @workflow.init: the gate of this workflow
    await gate.call_and_wait(activity, arg, stage=..., timeout=...)  -> StageRecord (outcome, result, ...)
    stage_failure(record)          the typed ApplicationError for a stage that did not complete
    Mode, Outcome, AdvancedBy, CallbackStatus, StageRecord, StageCheck, StageCallback, GateState, GateStatus
    CallbackShape, BodyFormat      a service's own callback body: `call_and_wait(..., callback=shape)`
    FetchSpec                      notify, then fetch: `call_and_wait(..., fetch=FetchSpec(url, headers, answer))`
    OWN_STAGE_ID                   `call_and_wait(..., source=, key=OWN_STAGE_ID)`: a vendor echoes the stage's ID

Your activities::

    current_stage() -> StageContext   the stage's signed callback URL and idempotency key, inside a stage activity
    report_service(method, url)       what operators see the stage wait on (host and method only)
    report_hook_key(key)              a stage waiting on a fixed-endpoint source: the key, known only here

Starting runs (what the Temporal Web UI shows)::

    run_summary(what, mode, stages), run_details(description, [StageLine(...)])   static summary and details

Your worker::

    StageGateInterceptor(CallbackSigner(base_url, secret))   carries the stage to its activity, signs the URL
    FetchActivity(settings, http).fetch_result                the fetch activity, for stages with a FetchSpec
    HookMailboxWorkflow, deliver_hook_event                   fixed endpoints: `call_and_wait(..., source=, key=)`
    check_hook_handoff                                        ... and their token-mode hand-off check
    Settings, load_settings, connect_client                   the environment, read once; a Temporal client

Pipelines (a process as data)::

    load_pipeline(path) -> Pipeline, PipelineWorkflow, PipelineRunInput, start_pipeline_run

Errors: every error raised on purpose derives from `StagegateError` (see `app.errors`).

Names are loaded on first use (PEP 562), so `from app import StageGate` in a workflow file imports the gate's
workflow side only, and a worker that never touches pipelines never loads YAML or JSON Schema.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    # the gate, workflow side (sandbox-safe)
    "StageGate": "app.gate.stage_gate",
    "stage_failure": "app.gate.stage_gate",
    "Mode": "app.gate.types",
    "Outcome": "app.gate.types",
    "AdvancedBy": "app.gate.types",
    "CallbackStatus": "app.gate.types",
    "StageRecord": "app.gate.types",
    "StageCheck": "app.gate.types",
    "StageCallback": "app.gate.types",
    "GateState": "app.gate.types",
    "GateStatus": "app.gate.types",
    "OWN_STAGE_ID": "app.gate.types",
    "CallbackShape": "app.gate.shapes",
    "BodyFormat": "app.gate.shapes",
    "FetchSpec": "app.gate.shapes",
    # the gate, activity and worker side
    "current_stage": "app.gate.stage_activity",
    "StageContext": "app.gate.stage_activity",
    "StageGateInterceptor": "app.gate.stage_activity",
    "CallbackSigner": "app.gate.callback_urls",
    "report_service": "app.gate.stage_activity",
    "report_hook_key": "app.gate.stage_activity",
    "FetchActivity": "app.pipeline.fetch",
    # fixed endpoints: the mailbox workflow and its delivery activity, for your worker
    "HookMailboxWorkflow": "app.gate.mailbox",
    "deliver_hook_event": "app.callbacks.hook_delivery",
    "check_hook_handoff": "app.gate.hook_handoff",
    # what operators see (Temporal's static summary and details of a run you start)
    "run_summary": "app.gate.operator_view",
    "run_details": "app.gate.operator_view",
    "StageLine": "app.gate.operator_view",
    # runtime
    "Settings": "app.runtime.config",
    "load_settings": "app.runtime.config",
    "connect_client": "app.runtime.client",
    # pipelines
    "load_pipeline": "app.pipeline.file",
    "Pipeline": "app.pipeline.types",
    "PipelineRunInput": "app.pipeline.types",
    "PipelineWorkflow": "app.pipeline.workflow",
    "start_pipeline_run": "app.starter",
    # errors
    "StagegateError": "app.errors",
    "SettingsError": "app.errors",
    "PipelineError": "app.errors",
    "InvalidCallbackError": "app.errors",
    "NotAStageActivityError": "app.errors",
}

__all__ = [
    "OWN_STAGE_ID",
    "AdvancedBy",
    "BodyFormat",
    "CallbackShape",
    "CallbackSigner",
    "CallbackStatus",
    "FetchActivity",
    "FetchSpec",
    "GateState",
    "GateStatus",
    "HookMailboxWorkflow",
    "InvalidCallbackError",
    "Mode",
    "NotAStageActivityError",
    "Outcome",
    "Pipeline",
    "PipelineError",
    "PipelineRunInput",
    "PipelineWorkflow",
    "Settings",
    "SettingsError",
    "StageCallback",
    "StageCheck",
    "StageContext",
    "StageGate",
    "StageGateInterceptor",
    "StageLine",
    "StageRecord",
    "StagegateError",
    "check_hook_handoff",
    "connect_client",
    "current_stage",
    "deliver_hook_event",
    "load_pipeline",
    "load_settings",
    "report_hook_key",
    "report_service",
    "run_details",
    "run_summary",
    "stage_failure",
    "start_pipeline_run",
]

if TYPE_CHECKING:
    from app.callbacks.hook_delivery import deliver_hook_event
    from app.errors import (
        InvalidCallbackError,
        NotAStageActivityError,
        PipelineError,
        SettingsError,
        StagegateError,
    )
    from app.gate.callback_urls import CallbackSigner
    from app.gate.hook_handoff import check_hook_handoff
    from app.gate.mailbox import HookMailboxWorkflow
    from app.gate.operator_view import StageLine, run_details, run_summary
    from app.gate.shapes import BodyFormat, CallbackShape, FetchSpec
    from app.gate.stage_activity import (
        StageContext,
        StageGateInterceptor,
        current_stage,
        report_hook_key,
        report_service,
    )
    from app.gate.stage_gate import StageGate, stage_failure
    from app.gate.types import (
        OWN_STAGE_ID,
        AdvancedBy,
        CallbackStatus,
        GateState,
        GateStatus,
        Mode,
        Outcome,
        StageCallback,
        StageCheck,
        StageRecord,
    )
    from app.pipeline.fetch import FetchActivity
    from app.pipeline.file import load_pipeline
    from app.pipeline.types import Pipeline, PipelineRunInput
    from app.pipeline.workflow import PipelineWorkflow
    from app.runtime.client import connect_client
    from app.runtime.config import Settings, load_settings
    from app.starter import start_pipeline_run


if not TYPE_CHECKING:  # type checkers see the imports above; at run time names load on first use

    def __getattr__(name: str) -> Any:
        """Import a public name's module on first use (PEP 562) and cache the name here."""
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'app' has no attribute {name!r}")
        value = getattr(import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
