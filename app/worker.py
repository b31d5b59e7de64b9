"""The worker process: runs the workflow and the stage activities; drains gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

import httpx
import structlog
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import NondeterminismError

from app.callbacks.hook_delivery import deliver_hook_event
from app.demo.activities import StageActivities
from app.demo.workflow import StagedCallbackWorkflow
from app.errors import SettingsError
from app.gate import gate_metrics
from app.gate.callback_urls import CallbackSigner
from app.gate.hook_handoff import check_hook_handoff
from app.gate.mailbox import HookMailboxWorkflow
from app.gate.stage_activity import StageGateInterceptor
from app.pipeline.activities import PipelineActivities
from app.pipeline.egress import EgressPolicy, egress_client
from app.pipeline.fetch import FetchActivity
from app.pipeline.workflow import PipelineWorkflow
from app.runtime.client import connect_client
from app.runtime.config import Settings, load_settings
from app.runtime.logs import configure_logging
from app.runtime.signing_guard import check_signing, worker_endpoints
from app.runtime.tracing import start_tracing

log = structlog.get_logger(__name__)


def callback_signer(settings: Settings) -> CallbackSigner:
    """Signs stage callback URLs with the current (first) secret."""
    return CallbackSigner(
        settings.callback_base_url,
        settings.signing_secrets[0],
        settings.callback_url_grace_seconds,
        sender=settings.callback_webhook_sender,
    )


# The tracing interceptor runs inside the sandbox: OpenTelemetry's context must be the process's one, not a copy
# re-imported per workflow run (it is only read and written through the interceptor, never for decisions).
SANDBOX_RESTRICTIONS = SandboxRestrictions.default.with_passthrough_modules("opentelemetry")


def prometheus_config(settings: Settings) -> PrometheusConfig:
    """The worker's Prometheus endpoint: the SDK's metrics and the gate's (app/gate/gate_metrics.py)."""
    return PrometheusConfig(
        bind_address=settings.worker_metrics_bind,
        histogram_bucket_overrides={gate_metrics.CALLBACK_WAIT: list(gate_metrics.CALLBACK_WAIT_BUCKETS)},
    )


def build_worker(
    settings: Settings, client: Client, http: httpx.AsyncClient, pipeline_http: httpx.AsyncClient | None = None
) -> Worker:
    """A worker for the demo and the pipeline workflow and their activities; tests build theirs the same way.

    `pipeline_http` is the egress-checked client pipeline requests go through (`egress_client`); tests that run
    no pipeline may leave it out, and pipelines then use `http` without the per-connection address check.
    """
    activities = StageActivities(settings, http)
    pipeline = PipelineActivities(settings, pipeline_http or http)
    # The fetch after notify runs pipeline-defined URLs too: the same egress-checked client.
    fetch = FetchActivity(settings, pipeline_http or http)
    return Worker(
        client,
        task_queue=settings.task_queue,
        # The hook mailboxes (fixed endpoints) run here too: the callback server starts them on this task queue.
        workflows=[StagedCallbackWorkflow, PipelineWorkflow, HookMailboxWorkflow],
        activities=[
            activities.request_stage,
            activities.await_stage_callback,
            activities.check_stage,
            pipeline.http_request,
            pipeline.check_status,
            fetch.fetch_result,
            deliver_hook_event,
            check_hook_handoff,  # the token-mode hand-off check of stages that wait on a source
        ],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_cached_workflows=settings.worker_max_cached_workflows,
        workflow_failure_exception_types=[NondeterminismError] if settings.worker_fail_on_nondeterminism else [],
        graceful_shutdown_timeout=timedelta(seconds=10),
        interceptors=[StageGateInterceptor(callback_signer(settings), mailbox_task_queue=settings.task_queue)],
        workflow_runner=SandboxedWorkflowRunner(restrictions=SANDBOX_RESTRICTIONS),
    )


async def run_worker(settings: Settings) -> None:
    """Connect, serve until SIGTERM/SIGINT, then let running activities finish (up to the graceful timeout)."""
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus_config(settings)))
    tracing = start_tracing(settings.tracing, component="stagegate-worker")
    interceptors = tracing.temporal_interceptors() if tracing is not None else []
    client = await connect_client(settings, runtime=runtime, interceptors=interceptors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with httpx.AsyncClient() as http, egress_client(EgressPolicy.from_settings(settings)) as pipeline_http:
        if tracing is not None:
            tracing.instrument(http)
            tracing.instrument(pipeline_http)
        worker = build_worker(settings, client, http, pipeline_http)
        log.info(
            "worker started",
            task_queue=settings.task_queue,
            temporal=settings.temporal.address,
            namespace=settings.temporal.namespace,
            metrics=f"http://{settings.worker_metrics_bind}/metrics",
            tracing=",".join(settings.tracing.exporters) or "off",
            signing=settings.signing_mode,
        )
        if settings.signing_mode == "development":
            log.warning("STAGEGATE_DEV_MODE: callback URLs are signed with the development secret (loopback only)")
        async with worker:
            await stop.wait()
            log.info("shutdown requested, draining")
    if tracing is not None:
        tracing.shutdown()
    log.info("worker stopped")


def main() -> None:
    """Entry point: `python -m app.worker`."""
    try:
        settings = load_settings()
        check_signing(settings, worker_endpoints(settings))
        EgressPolicy.from_settings(settings)  # a bad STAGEGATE_EGRESS_HOSTS entry stops the start here
    except SettingsError as err:
        sys.exit(f"stagegate worker: {err}")  # one line on stderr, exit code 1
    configure_logging(settings)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
