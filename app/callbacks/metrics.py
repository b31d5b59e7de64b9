"""Prometheus metrics of the callback server: callbacks by outcome, forwarding latency, rejections by reason;
fixed-endpoint (`/hooks/{source}`) events by source and outcome, their refusals and their delivery latency.

Each app has its own registry (served at `GET /metrics`), so two apps in one process, as in tests, count apart.
Labels are bounded: only the callback routes are counted, reasons are our own error codes, a hook's source is a
configured name (any other name in the path is counted as `unknown`) and its outcome one of `HOOK_OUTCOMES`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

# `temporal_call` of a callback no Temporal call took (refused before, or by, Temporal).
NO_TEMPORAL_CALL = "none"
# Forwarding is one Temporal RPC (an update waits for the worker): milliseconds to the 10 s RPC timeout.
FORWARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Every fixed endpoint is one route label (source names are configuration, not code) ...
HOOKS_PREFIX = "/hooks/"
HOOKS_ROUTE = "/hooks/*"
# ... and its own counters carry the source: a configured name, or this for any other path.
UNKNOWN_SOURCE = "unknown"
# What the mailbox answered a verified event (app/gate/mailbox_rules.py, app/callbacks/hooks.py); anything new
# is counted as `other` until it is named here.
HOOK_OUTCOMES = frozenset({"kept", "delivering", "delivered", "duplicate", "taken"})
OTHER_OUTCOME = "other"


@dataclass(frozen=True)
class CallbackMetrics:
    """The callback server's counters and histogram, and the registry `/metrics` renders."""

    registry: CollectorRegistry
    routes: Mapping[str, str]  # callback route path -> mode
    callbacks: Counter
    rejected: Counter
    forward_seconds: Histogram
    hook_sources: frozenset[str]
    hook_events: Counter
    hook_rejected: Counter
    hook_seconds: Histogram

    @classmethod
    def create(cls, routes: Mapping[str, str], hook_sources: Collection[str] = ()) -> CallbackMetrics:
        """Fresh metrics in a registry of their own; `routes` maps each callback route to its mode, `hook_sources`
        are the configured fixed-endpoint sources (the only source label values besides `unknown`)."""
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            routes=dict(routes),
            hook_sources=frozenset(hook_sources),
            hook_events=Counter(
                "stagegate_hook_events",
                "Verified /hooks/{source} events, by source and what became of them "
                "(kept, delivering, delivered, duplicate, taken).",
                ["source", "outcome"],
                registry=registry,
            ),
            hook_rejected=Counter(
                "stagegate_hook_events_rejected",
                "/hooks/{source} requests refused (4xx/5xx), by source (`unknown` if not configured) and reason.",
                ["source", "reason"],
                registry=registry,
            ),
            hook_seconds=Histogram(
                "stagegate_hook_delivery_seconds",
                "Time to hand a verified /hooks/{source} event to its key's mailbox workflow and get its answer.",
                ["source", "outcome"],
                buckets=FORWARD_BUCKETS,
                registry=registry,
            ),
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
        if path.startswith(HOOKS_PREFIX):
            self.hook_rejected.labels(self.hook_source(path.removeprefix(HOOKS_PREFIX)), reason).inc()
            path = HOOKS_ROUTE
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

    def hook_source(self, source: str) -> str:
        """The source label: the configured name, or `unknown` (a path must not mint label values)."""
        return source if source in self.hook_sources else UNKNOWN_SOURCE

    def hook_delivered(self, source: str, *, outcome: str, seconds: float) -> None:
        """A verified event the mailbox answered: what became of it, and how long the hand-over took."""
        label = self.hook_source(source)
        bounded = outcome if outcome in HOOK_OUTCOMES else OTHER_OUTCOME
        self.hook_events.labels(label, bounded).inc()
        self.hook_seconds.labels(label, bounded).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
