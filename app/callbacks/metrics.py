"""Prometheus metrics of the callback server: callbacks by outcome, forwarding latency, rejections by reason.

Each app has its own registry (served at `GET /metrics`), so two apps in one process, as in tests, count apart.
Labels are bounded: only the callback routes are counted, and reasons are our own error codes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

# `temporal_call` of a callback no Temporal call took (refused before, or by, Temporal).
NO_TEMPORAL_CALL = "none"
# Forwarding is one Temporal RPC (an update waits for the worker): milliseconds to the 10 s RPC timeout.
FORWARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class CallbackMetrics:
    """The callback server's counters and histogram, and the registry `/metrics` renders."""

    registry: CollectorRegistry
    routes: Mapping[str, str]  # callback route path -> mode
    callbacks: Counter
    rejected: Counter
    forward_seconds: Histogram

    @classmethod
    def create(cls, routes: Mapping[str, str]) -> CallbackMetrics:
        """Fresh metrics in a registry of their own; `routes` maps each callback route to its mode."""
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            routes=dict(routes),
            callbacks=Counter(
                "stagegate_callbacks",
                "Callbacks answered, by route, mode, HTTP status code and the Temporal call that took them.",
                ["route", "mode", "status_code", "temporal_call"],
                registry=registry,
            ),
            rejected=Counter(
                "stagegate_callbacks_rejected",
                "Callbacks refused (4xx/5xx), by route, mode and reason (the error code of the answer).",
                ["route", "mode", "reason"],
                registry=registry,
            ),
            forward_seconds=Histogram(
                "stagegate_callback_forward_seconds",
                "Time to hand a verified callback to Temporal (signal, update or async completion).",
                ["mode", "outcome"],
                buckets=FORWARD_BUCKETS,
                registry=registry,
            ),
        )

    def accepted(self, path: str, *, status_code: int, temporal_call: str) -> None:
        """A callback Temporal took."""
        mode = self.routes.get(path)
        if mode is not None:
            self.callbacks.labels(path, mode, str(status_code), temporal_call).inc()

    def refused(self, path: str, *, status_code: int, reason: str) -> None:
        """A request to a callback route answered with an error (other paths are not counted): why, as our code."""
        mode = self.routes.get(path)
        if mode is not None:
            self.callbacks.labels(path, mode, str(status_code), NO_TEMPORAL_CALL).inc()
            self.rejected.labels(path, mode, reason).inc()

    @contextmanager
    def forwarding(self, mode: str) -> Iterator[None]:
        """Time the hand-over to Temporal; an exception counts as `rejected`."""
        started = time.perf_counter()
        outcome = "rejected"
        try:
            yield
            outcome = "accepted"
        finally:
            self.forward_seconds.labels(mode, outcome).observe(time.perf_counter() - started)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
