# syntax=docker/dockerfile:1
#
# One image for every stagegate process. The default command runs the worker;
# compose (or `docker run IMAGE python -m ...`) picks another entry point:
#   python -m app.worker           Temporal worker (metrics on :9464/metrics)
#   python -m app.callback_server  callback receiver on :8000 (/healthz, /readyz)
#   python -m service_mock         mock external service on :8001 (/healthz)
#   cli ...                        the typer CLI (start runs, demo, bench)
#
# Build stage: uv resolves exactly what uv.lock pins (--locked fails the build
# if the lock is stale), without the dev group, and installs the project itself
# as a regular wheel (--no-editable) so the runtime stage needs no source tree.
# Runtime stage: the same Python base plus that virtualenv, run as a non-root
# user; no uv, no compilers, no build context in the final image.

# Pinned to the uv that wrote uv.lock: an older uv may not read a newer lock format.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11-slim AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/stagegate/venv
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --locked --no-dev --no-editable --no-install-project

# Then the project (hatchling packages app, service_mock and cli; it also reads README.md).
COPY pyproject.toml uv.lock README.md ./
COPY app ./app
COPY cli ./cli
COPY service_mock ./service_mock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="stagegate" \
      org.opencontainers.image.description="Temporal workflows that wait on external HTTP callbacks"

# A fixed numeric uid/gid, so orchestrators can verify runAsNonRoot without a passwd lookup.
RUN groupadd --system --gid 10001 stagegate \
    && useradd --system --uid 10001 --gid stagegate --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin stagegate

# Root-owned and read-only for the service user: the code cannot be modified at runtime.
COPY --from=builder /opt/stagegate/venv /opt/stagegate/venv
# The example pipeline files, for `cli start --pipeline pipelines/<file>.yaml` inside a container.
COPY pipelines /opt/stagegate/pipelines

# Container defaults: listen on all interfaces (the processes default to 127.0.0.1,
# which is unreachable from other containers) and log JSON lines.
ENV PATH="/opt/stagegate/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CALLBACK_HOST=0.0.0.0 \
    CALLBACK_PORT=8000 \
    SERVICE_HOST=0.0.0.0 \
    SERVICE_PORT=8001 \
    WORKER_METRICS_BIND=0.0.0.0:9464 \
    LOG_FORMAT=json

WORKDIR /opt/stagegate
USER 10001:10001
EXPOSE 8000 8001 9464

# Exec form: the Python process receives SIGTERM directly (the worker drains on it).
CMD ["python", "-m", "app.worker"]
