"""The cluster's knobs, read from the environment once: ports, PostgreSQL, shard count, process layout, paths.

Every Temporal port is its standard port shifted by the offset of TEMPORAL_ADDRESS's port from 7233 (frontend
27233 -> history 27234, matching 27235, worker 27239, membership 26933-26939, frontend HTTP 27243), so one
variable moves the whole cluster out of another stack's way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from app.runtime.config import load_temporal_settings

ROOT = Path(__file__).resolve().parent.parent.parent

# The one pin: the same release as compose.yaml's temporalio/server image (tests/scripts/test_cluster.py checks).
TEMPORAL_SERVER_VERSION = "1.32.0"
TEMPORAL_SERVER_MODULE = "go.temporal.io/server"

STANDARD_FRONTEND_PORT = 7233
# Temporal's standard ports per service: gRPC, membership (ringpop).
STANDARD_PORTS: Mapping[str, tuple[int, int]] = {
    "frontend": (7233, 6933),
    "history": (7234, 6934),
    "matching": (7235, 6935),
    "worker": (7239, 6939),
}
STANDARD_FRONTEND_HTTP_PORT = 7243
# Temporal's SQL schema keeps each host's membership port in a smallint: a service on a higher one dies at start
# ("value ... is out of range for type smallint"), seen with TEMPORAL_ADDRESS=localhost:37233.
MAX_MEMBERSHIP_PORT = 32767
SERVICES = ("history", "matching", "frontend", "worker")  # start order: the frontend needs history and matching

DEFAULT_PG_PORT = 15432
DEFAULT_SHARDS = 16


class ClusterSettingsError(ValueError):
    """An environment variable holds a value the cluster cannot use."""


class Layout(StrEnum):
    """How the four Temporal services run: one process each (production shape), or all in one process."""

    SEPARATE = "separate"
    SINGLE = "single"


@dataclass(frozen=True)
class ServicePorts:
    """Where one Temporal service listens."""

    grpc: int
    membership: int


@dataclass(frozen=True)
class ClusterSettings:
    """Everything `cluster-up` needs to know; paths are absolute."""

    frontend_host: str
    frontend_port: int
    namespace: str
    pg_port: int
    pg_user: str
    pg_password: str
    shards: int
    layout: Layout
    log_level: str
    state_dir: Path

    @property
    def offset(self) -> int:
        """How far every Temporal port is moved from its standard value."""
        return self.frontend_port - STANDARD_FRONTEND_PORT

    def ports(self, service: str) -> ServicePorts:
        """The gRPC and membership port of one Temporal service."""
        grpc, membership = STANDARD_PORTS[service]
        return ServicePorts(grpc + self.offset, membership + self.offset)

    @property
    def frontend_http_port(self) -> int:
        """The frontend's HTTP API port."""
        return STANDARD_FRONTEND_HTTP_PORT + self.offset

    @property
    def address(self) -> str:
        """host:port of the frontend, as clients dial it."""
        return f"{self.frontend_host}:{self.frontend_port}"

    @property
    def pg_data(self) -> Path:
        """PostgreSQL's data directory (owned by the user the server runs as)."""
        return self.state_dir / "pgdata"

    @property
    def pg_socket_dir(self) -> Path:
        """PostgreSQL's unix socket directory: ours, never the system's /var/run/postgresql."""
        return self.state_dir / "pgsocket"

    @property
    def server_config(self) -> Path:
        """The rendered Temporal server configuration."""
        return self.state_dir / "temporal.yaml"

    @property
    def tools_dir(self) -> Path:
        """Where `go install` puts the pinned server and SQL tool (git-ignored .tools/, shared by checkouts' state)."""
        return ROOT / ".tools" / "cluster" / f"server-{TEMPORAL_SERVER_VERSION}"


def _int(env: Mapping[str, str], name: str, default: int, *, low: int = 1, high: int = 65535) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ClusterSettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise ClusterSettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def load_cluster_settings(env: Mapping[str, str] | None = None) -> ClusterSettings:
    """Read CLUSTER_* (and TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE through app.runtime.config) once."""
    env = os.environ if env is None else env
    temporal = load_temporal_settings(env)
    host, sep, port = temporal.address.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterSettingsError(f"TEMPORAL_ADDRESS={temporal.address!r} must look like host:port")
    frontend_port = int(port)
    lowest = min(p for pair in STANDARD_PORTS.values() for p in pair) + frontend_port - STANDARD_FRONTEND_PORT
    if lowest < 1 or STANDARD_FRONTEND_HTTP_PORT + frontend_port - STANDARD_FRONTEND_PORT > 65535:
        raise ClusterSettingsError(f"TEMPORAL_ADDRESS port {frontend_port} puts the cluster's other ports out of range")
    highest_membership = max(m for _, m in STANDARD_PORTS.values()) + frontend_port - STANDARD_FRONTEND_PORT
    if highest_membership > MAX_MEMBERSHIP_PORT:
        raise ClusterSettingsError(
            f"TEMPORAL_ADDRESS port {frontend_port} puts a membership port at {highest_membership}; Temporal stores "
            f"them in a PostgreSQL smallint (cluster_membership.rpc_port), so the frontend port must be at most "
            f"{MAX_MEMBERSHIP_PORT - max(m for _, m in STANDARD_PORTS.values()) + STANDARD_FRONTEND_PORT}"
        )
    layout_raw = env.get("CLUSTER_LAYOUT", "").strip().lower() or Layout.SEPARATE.value
    if layout_raw not in {item.value for item in Layout}:
        raise ClusterSettingsError(f"CLUSTER_LAYOUT must be separate or single, got {layout_raw!r}")
    state_raw = env.get("CLUSTER_STATE_DIR", "").strip()
    state_dir = Path(state_raw) if state_raw else ROOT / ".state" / "cluster"
    return ClusterSettings(
        frontend_host=host or "localhost",
        frontend_port=frontend_port,
        namespace=temporal.namespace,
        pg_port=_int(env, "CLUSTER_PG_PORT", DEFAULT_PG_PORT),
        pg_user=env.get("CLUSTER_PG_USER", "").strip() or "temporal",
        pg_password=env.get("CLUSTER_PG_PASSWORD", "") or "temporal",
        shards=_int(env, "CLUSTER_HISTORY_SHARDS", DEFAULT_SHARDS, high=16384),
        layout=Layout(layout_raw),
        log_level=env.get("CLUSTER_LOG_LEVEL", "").strip().lower() or "warn",
        state_dir=state_dir.resolve(),
    )
