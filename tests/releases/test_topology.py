"""The topology contract: the sandbox's document validates; malformed files are bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from releases.errors import BadInput
from releases.sandbox.configs import topology
from releases.sandbox.state import Layout, SandboxState, ServicePorts, SlotProcess
from releases.topology import (
    HAProxyRouterSpec,
    SandboxPostgresSpec,
    SandboxSecretStoreSpec,
    Topology,
    load_topology,
)

LAYOUT = Layout(Path("/srv/sandbox"))


def _state() -> SandboxState:
    return SandboxState(
        runtime_api_socket="/srv/sandbox/haproxy.sock",
        haproxy_metrics_port=9002,
        prometheus_port=9003,
        postgres_port=9004,
        redis_port=9005,
        postgres_data="/srv/sandbox/postgres",
        postgres_bin_dir="/usr/lib/postgresql/15/bin",
        services={
            "web": ServicePorts(
                frontend=8000,
                slots={
                    "blue": SlotProcess(port=8001, version="1"),
                    "green": SlotProcess(port=8002, version="1"),
                },
            )
        },
    )


def test_the_sandbox_topology_round_trips_through_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "topology.json"
    path.write_text(topology(_state(), LAYOUT).model_dump_json())
    loaded = load_topology(path)
    assert isinstance(loaded, Topology)
    router = loaded.service("web").router
    assert isinstance(router, HAProxyRouterSpec) and router.backend == "web"
    # The runbook's parts: the secret store and the database its migrations back up.
    assert loaded.service("web").secrets == SandboxSecretStoreSpec(path="/srv/sandbox/secrets.json")
    assert loaded.service("web").database == SandboxPostgresSpec(
        backups_dir="/srv/sandbox/backups", bin_dir="/usr/lib/postgresql/15/bin"
    )


def test_an_unknown_service_names_the_known_ones() -> None:
    with pytest.raises(BadInput, match="unknown --service 'db' in sandbox; expected one of: web"):
        topology(_state(), LAYOUT).service("db")


def test_a_malformed_topology_names_the_field(tmp_path: Path) -> None:
    document = json.loads(topology(_state(), LAYOUT).model_dump_json())
    document["services"]["web"]["router"]["runtime_api"] = "not an address; rm -rf"
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document))
    with pytest.raises(BadInput, match=r"services\.web\.router\.haproxy\.runtime_api"):
        load_topology(path)


def test_the_runtime_api_is_a_unix_socket_not_a_tcp_port(tmp_path: Path) -> None:
    """HAProxy's admin-level runtime API changes where traffic goes: the contract takes the path of
    its 0600 unix socket, and refuses a host:port any local process could connect to."""
    document = json.loads(topology(_state(), LAYOUT).model_dump_json())
    assert document["services"]["web"]["router"]["runtime_api"] == "/srv/sandbox/haproxy.sock"
    document["services"]["web"]["slots"]["runtime_api"] = "127.0.0.1:9001"
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document))
    with pytest.raises(BadInput, match=r"services\.web\.slots\.sandbox\.runtime_api"):
        load_topology(path)
