"""The Temporal server's configuration file for the cluster, rendered from the settings (a pure function).

Choices made on purpose (docs/cluster.md says why at length):

- PostgreSQL through the `postgres12` plugin for both stores; visibility on SQL is Temporal's advanced
  visibility (custom search attributes, list/count queries), as in compose.yaml.
- `numHistoryShards` from the settings (16 by default): fixed for the life of the database.
- Every service binds 127.0.0.1 on its own shifted ports; membership (ringpop) advertises 127.0.0.1.
- No metrics listener: with one process per service they would all want the same global address.
- Dynamic config: the compose stack's own file (deploy/temporal/dynamicconfig.yaml), so both run the same.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from scripts.cluster.settings import ROOT, SERVICES, ClusterSettings

DYNAMIC_CONFIG = ROOT / "deploy" / "temporal" / "dynamicconfig.yaml"
MAIN_DB = "temporal"
VISIBILITY_DB = "temporal_visibility"
# Connection pool per store and process: 4 processes x (main + visibility) stay well under max_connections.
MAIN_MAX_CONNS = 20
VISIBILITY_MAX_CONNS = 10


def _sql_store(settings: ClusterSettings, database: str, max_conns: int) -> dict[str, Any]:
    return {
        "sql": {
            "pluginName": "postgres12",
            "databaseName": database,
            "connectAddr": f"127.0.0.1:{settings.pg_port}",
            "connectProtocol": "tcp",
            "user": settings.pg_user,
            "password": settings.pg_password,
            "maxConns": max_conns,
            "maxIdleConns": max_conns,
            "maxConnLifetime": "1h",
        }
    }


def _disabled() -> dict[str, str]:
    return {"state": "disabled"}  # a new dict each time: the YAML then has no anchors


def server_config(settings: ClusterSettings) -> dict[str, Any]:
    """The configuration as plain data (what the unit tests look at)."""
    frontend = f"127.0.0.1:{settings.frontend_port}"
    services: dict[str, Any] = {}
    for name in SERVICES:
        ports = settings.ports(name)
        rpc: dict[str, Any] = {"grpcPort": ports.grpc, "membershipPort": ports.membership, "bindOnIP": "127.0.0.1"}
        if name == "frontend":
            rpc["httpPort"] = settings.frontend_http_port
        services[name] = {"rpc": rpc}
    return {
        "log": {"stdout": True, "level": settings.log_level},
        "persistence": {
            "numHistoryShards": settings.shards,
            "defaultStore": "default",
            "visibilityStore": "visibility",
            "datastores": {
                "default": _sql_store(settings, MAIN_DB, MAIN_MAX_CONNS),
                "visibility": _sql_store(settings, VISIBILITY_DB, VISIBILITY_MAX_CONNS),
            },
        },
        "global": {"membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"}},
        "services": services,
        "clusterMetadata": {
            "enableGlobalNamespace": False,
            "failoverVersionIncrement": 10,
            "masterClusterName": "active",
            "currentClusterName": "active",
            "clusterInformation": {
                "active": {
                    "enabled": True,
                    "initialFailoverVersion": 1,
                    "rpcName": "frontend",
                    "rpcAddress": frontend,
                    "httpAddress": f"127.0.0.1:{settings.frontend_http_port}",
                }
            },
        },
        "dcRedirectionPolicy": {"policy": "noop"},
        "archival": {"history": _disabled(), "visibility": _disabled()},
        "namespaceDefaults": {"archival": {"history": _disabled(), "visibility": _disabled()}},
        # The worker service (Temporal's own system workflows) reaches the frontend here.
        "publicClient": {"hostPort": frontend},
        "dynamicConfigClient": {"filepath": str(DYNAMIC_CONFIG), "pollInterval": "10s"},
    }


def render_server_config(settings: ClusterSettings) -> str:
    """The configuration as the YAML file the server reads."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    out.write("# Written by scripts/cluster (just cluster-up) on every start; edit the settings, not this file.\n")
    yaml.dump(server_config(settings), out)
    return out.getvalue()
