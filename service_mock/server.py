"""Litestar app factory: the HTTP API of the service mock and the lifespan of its shared resources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.types import Scope
from opentelemetry.sdk.trace import TracerProvider

from service_mock.config import Settings
from service_mock.delivery import CallbackSender
from service_mock.jobs import JobRegistry
from service_mock.logs import get_logger
from service_mock.runner import JobRunner, job_logger
from service_mock.tracing import instrument, tracing_middleware
from service_mock.validation import validation_error_handler
from service_mock.wire import Health, JobAccepted, JobRequest, JobView, PublishAccepted, PublishRequest

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Service:
    """What the handlers need, built in the lifespan once the HTTP client exists."""

    registry: JobRegistry
    runner: JobRunner
    publish_token: str | None = None
    keep_first_callback_url: bool = False


def _service(state: State) -> Service:
    service = state.get("service")
    if isinstance(service, Service):
        return service
    raise RuntimeError("service mock used outside its lifespan")


@get("/healthz", sync_to_thread=False)
def healthz() -> Health:
    """Liveness: the process answers HTTP."""
    return Health()


@post("/request", status_code=200)
async def submit(data: JSONBody[JobRequest], service: NamedDependency[Service]) -> JobAccepted:
    """Accept a job (or find it by idempotency key), start its callbacks, then answer after time_to_request."""
    # Captured before any waiting: time_to_callback counts from arrival, which is what makes early callbacks possible.
    arrived_at = asyncio.get_running_loop().time()
    job, duplicate = service.registry.admit(data, arrived_at=arrived_at)
    log = job_logger(job)
    if duplicate:
        log.info("duplicate request, no new work", callback_url_changed=data.callback_url != job.callback_url)
        if not service.keep_first_callback_url:
            service.runner.retarget(job, data.callback_url)
    else:
        log.info(
            "job accepted",
            time_to_request=data.time_to_request,
            time_to_callback=data.time_to_callback,
            extra_delay=data.extra_delay,
            duplicate_deliveries=data.duplicate_deliveries,
        )
        service.runner.start(job)
    if data.time_to_request > 0:
        await asyncio.sleep(data.time_to_request)
    log.info("answering request", duplicate=duplicate)
    return JobAccepted(job_id=job.job_id, duplicate=duplicate)


@post("/publish", status_code=202)
async def publish(
    data: JSONBody[PublishRequest],
    service: NamedDependency[Service],
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)] = None,
    authorization: Annotated[str | None, HeaderParameter(name="Authorization", required=False)] = None,
) -> PublishAccepted:
    """A second kind of job: publish an asset; the callback URL is `notify.url`, the key a header.

    Runs on the same job machinery as /request (so GET /jobs finds it); its callback result's `payload` says
    what was published (asset, title, url).
    """
    if service.publish_token is not None and authorization != f"Bearer {service.publish_token}":
        raise NotAuthorizedException(detail="publish needs Authorization: Bearer <token>")
    slug = "-".join(data.title.lower().split())[:80]
    job_request = JobRequest(
        callback_url=data.notify.url,
        time_to_callback=data.time_to_callback,
        action=data.action,
        payload={"asset": data.asset, "title": data.title, "url": f"https://media.example.invalid/{data.asset}/{slug}"},
        idempotency_key=idempotency_key or None,
    )
    job, duplicate = service.registry.admit(job_request, arrived_at=asyncio.get_running_loop().time())
    log = job_logger(job)
    if duplicate:
        log.info("duplicate publish request, no new work")
        if not service.keep_first_callback_url:
            service.runner.retarget(job, data.notify.url)
    else:
        log.info("publish accepted", asset=data.asset, time_to_callback=data.time_to_callback)
        service.runner.start(job)
    return PublishAccepted(publication_id=job.job_id, duplicate=duplicate)


@get("/jobs", sync_to_thread=False)
def find_jobs(idempotency_key: FromQuery[str], service: NamedDependency[Service]) -> list[JobView]:
    """Jobs admitted under an idempotency key (zero or one), so a client can find its own work."""
    job = service.registry.by_key(idempotency_key)
    return [job.view()] if job is not None else []


@get("/jobs/{job_id:str}", sync_to_thread=False)
def job_state(job_id: FromPath[str], service: NamedDependency[Service]) -> JobView:
    """The job's state, for tests and curious humans."""
    job = service.registry.get(job_id)
    if job is None:
        raise NotFoundException(detail=f"unknown job_id {job_id!r}")
    return job.view()


def _log_unexpected(exc: Exception, scope: Scope) -> None:
    # Litestar's own logging config is off (it would take over the root logger), so 500s are logged here.
    if not isinstance(exc, HTTPException):
        _log.error("unhandled error", path=scope.get("path"), exc_info=exc)


def create_app(
    settings: Settings, *, http_client: httpx.AsyncClient | None = None, tracer_provider: TracerProvider | None = None
) -> Litestar:
    """Build the app; without `http_client` the lifespan opens (and later closes) one shared client.

    With `tracer_provider`, requests get spans and the client made here sends trace headers with callbacks.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = http_client is None
        client = http_client or httpx.AsyncClient(timeout=settings.callback_timeout)
        if owned and tracer_provider is not None:
            instrument(client, tracer_provider)
        runner = JobRunner(CallbackSender.from_settings(client, settings), settings)
        app.state.service = Service(
            registry=JobRegistry(),
            runner=runner,
            publish_token=settings.publish_token,
            keep_first_callback_url=settings.keep_first_callback_url,
        )
        try:
            yield
        finally:
            # Tasks first: they use the client, which must outlive them.
            await runner.aclose()
            if owned:
                await client.aclose()

    return Litestar(
        route_handlers=[healthz, submit, publish, find_jobs, job_state],
        dependencies={"service": Provide(_service, sync_to_thread=False)},
        exception_handlers={ValidationException: validation_error_handler},
        after_exception=[_log_unexpected],
        # None: Litestar's default config would replace the root logger's handlers set up in logs.py.
        logging_config=None,
        lifespan=[lifespan],
        middleware=[tracing_middleware(tracer_provider)] if tracer_provider is not None else [],
    )
