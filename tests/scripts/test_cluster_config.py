"""scripts/cluster without a cluster: settings from the environment, the rendered server config, the version pin."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from scripts.cluster.server_config import render_server_config, server_config
from scripts.cluster.settings import (
    DEFAULT_SHARDS,
    ROOT,
    SERVICES,
    TEMPORAL_SERVER_VERSION,
    ClusterSettingsError,
    Layout,
    load_cluster_settings,
)


def test_ports_follow_the_frontend_port() -> None:
    settings = load_cluster_settings({"TEMPORAL_ADDRESS": "localhost:27233"})
    assert settings.address == "localhost:27233"
    assert [settings.ports(s).grpc for s in ("frontend", "history", "matching", "worker")] == [
        27233,
        27234,
        27235,
        27239,
    ]
    assert [settings.ports(s).membership for s in ("frontend", "history", "matching", "worker")] == [
        26933,
        26934,
        26935,
        26939,
    ]
    assert settings.frontend_http_port == 27243


def test_defaults() -> None:
    settings = load_cluster_settings({})
    assert settings.frontend_port == 7233
    assert settings.shards == DEFAULT_SHARDS == 16
    assert settings.layout is Layout.SEPARATE
    assert settings.pg_port == 15432
    assert settings.state_dir == (ROOT / ".state" / "cluster").resolve()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLUSTER_PG_PORT", "x"),
        ("CLUSTER_PG_PORT", "70000"),
        ("CLUSTER_HISTORY_SHARDS", "0"),
        ("CLUSTER_LAYOUT", "three"),
        ("TEMPORAL_ADDRESS", "localhost:100"),  # its membership ports would be below 1
        ("TEMPORAL_ADDRESS", "localhost:37233"),  # history's membership port 36934: over PostgreSQL's smallint
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ClusterSettingsError, match=name.split("_", 1)[0]):
        load_cluster_settings({name: value})


def test_the_highest_frontend_port_whose_membership_ports_fit_is_taken() -> None:
    assert load_cluster_settings({"TEMPORAL_ADDRESS": "localhost:33061"}).frontend_port == 33061  # worker: 32767
    with pytest.raises(ClusterSettingsError, match="at most 33061"):
        load_cluster_settings({"TEMPORAL_ADDRESS": "localhost:33062"})


def test_server_config_renders_what_the_settings_say(tmp_path: Path) -> None:
    env = {
        "TEMPORAL_ADDRESS": "localhost:27233",
        "CLUSTER_PG_PORT": "25432",
        "CLUSTER_HISTORY_SHARDS": "8",
        "CLUSTER_STATE_DIR": str(tmp_path),
    }
    settings = load_cluster_settings(env)
    parsed = YAML(typ="safe", pure=True).load(render_server_config(settings))
    assert parsed == server_config(settings)
    persistence = parsed["persistence"]
    assert persistence["numHistoryShards"] == 8
    stores = persistence["datastores"]
    assert {stores[s]["sql"]["pluginName"] for s in ("default", "visibility")} == {"postgres12"}
    assert stores[persistence["visibilityStore"]]["sql"]["databaseName"] == "temporal_visibility"
    assert stores["default"]["sql"]["connectAddr"] == "127.0.0.1:25432"
    assert set(parsed["services"]) == set(SERVICES)
    assert parsed["services"]["frontend"]["rpc"] == {
        "grpcPort": 27233,
        "membershipPort": 26933,
        "bindOnIP": "127.0.0.1",
        "httpPort": 27243,
    }
    assert parsed["publicClient"]["hostPort"] == "127.0.0.1:27233"
    assert Path(parsed["dynamicConfigClient"]["filepath"]).is_file()
    assert "&id" not in render_server_config(settings)  # no YAML anchors


def test_server_pin_matches_compose() -> None:
    compose = YAML(typ="safe", pure=True).load((ROOT / "compose.yaml").read_text())
    image = compose["services"]["temporal"]["image"]
    assert image == f"temporalio/server:{TEMPORAL_SERVER_VERSION}"
