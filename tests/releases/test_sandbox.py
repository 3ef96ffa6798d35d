"""The sandbox's real processes: up, deploy with faults, swap without restarts, down by pid."""

from __future__ import annotations

import socket
import stat
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from releases.model import Pool, Weights
from releases.sandbox import processes
from releases.sandbox.environment import Sandbox
from releases.sandbox.state import INITIAL_PRODUCTION
from releases.targets.routers.haproxy import HAProxyRouter, RuntimeAPI
from releases.targets.slots.sandbox import SandboxSlots
from releases.topology import HAProxyRouterSpec, SandboxSlotPairSpec
from tests.releases.sandbox_helpers import needs_sandbox_programs
from tests.releases.test_state_files import modes

pytestmark = [pytest.mark.e2e, needs_sandbox_programs]


def test_up_deploy_swap_and_down(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sandbox")
    state = sandbox.up().state
    try:
        assert sandbox.up().state == sandbox.state()  # idempotent: the running sandbox is left alone
        pids = {name: record.pid for name, record in state.processes.items()}
        web = sandbox.topology().service("web")
        assert isinstance(web.slots, SandboxSlotPairSpec) and isinstance(web.router, HAProxyRouterSpec)
        slots = SandboxSlots(web.slots, web.health, deploy=lambda v: sandbox.deploy("web", v))
        production, staging = slots.probe()
        assert (production.version, staging.version) == ("1.0.0", "1.0.0")

        digest = "sha256:" + "ab" * 32
        sandbox.deploy("web", f"2.0.0@{digest}", error_rate=1.0)  # a release pinned by digest
        production_before, staging_after = slots.probe()
        assert staging_after.version == "2.0.0" and production_before.version == "1.0.0"
        assert httpx.get(f"{slots.url(staging=True)}/health", timeout=5).json()["image_digest"] == digest

        slots.swap()
        production, staging = slots.probe()
        assert (production.version, staging.version) == ("2.0.0", "1.0.0")
        response = httpx.get(
            sandbox.public_url("web") + "/", headers=sandbox.origin_headers(), timeout=5
        )  # all traffic on stable: 2.0.0
        assert response.headers["x-app-version"] == "2.0.0"
        assert response.status_code == 500 and response.headers["x-fault-injected"] == "true"
        # Nothing restarted for the swap: the same processes, except the redeployed staging slot.
        after = sandbox.state()
        assert after is not None
        unchanged = {n for n, r in after.processes.items() if pids[n] == r.pid}
        assert unchanged == set(pids) - {"web-green"}

        router = HAProxyRouter(RuntimeAPI(web.router.runtime_api), "web")
        router.write_weights(Weights(0.7, 0.3))
        assert router.read_weights() == Weights(0.7, 0.3)
    finally:
        final = sandbox.state()
        stopped = sandbox.down()
    assert final is not None and set(stopped) == set(final.processes)
    assert not any(processes.is_running(record) for record in final.processes.values())
    assert not (tmp_path / "sandbox").exists()


def test_a_swap_away_from_a_dead_slot_serves_at_once(tmp_path: Path) -> None:
    """The slots' health moves with their addresses: right after the swap, `stable` (now the live
    slot) is up and `canary` (now the dead one) is down, with no 503s while HAProxy's checks
    relearn what the swap already knows."""
    sandbox = Sandbox(tmp_path / "sandbox")
    state = sandbox.up().state
    try:
        web = sandbox.topology().service("web")
        assert isinstance(web.slots, SandboxSlotPairSpec) and isinstance(web.router, HAProxyRouterSpec)
        slots = SandboxSlots(web.slots, web.health, deploy=lambda v: sandbox.deploy("web", v))
        router = HAProxyRouter(RuntimeAPI(web.router.runtime_api), "web")
        sandbox.deploy("web", "2.0.0")
        psutil.Process(state.processes[f"web-{INITIAL_PRODUCTION}"].pid).kill()
        deadline = time.monotonic() + 15
        while router.pool_up(Pool.STABLE) or not router.pool_up(Pool.CANARY):
            assert time.monotonic() < deadline, "HAProxy never marked the dead slot down"
            time.sleep(0.1)
        slots.swap()
        assert router.pool_up(Pool.STABLE) and not router.pool_up(Pool.CANARY)
        response = httpx.get(sandbox.public_url("web") + "/", headers=sandbox.origin_headers(), timeout=5)
        assert response.status_code == 200 and response.headers["x-app-version"] == "2.0.0"
    finally:
        sandbox.down()


def test_router_sends_each_pool_its_weight(tmp_path: Path) -> None:
    """The observed canary share is the configured one (what the rehearsal's share target needs)."""
    sandbox = Sandbox(tmp_path / "sandbox")
    sandbox.up()
    try:
        web = sandbox.topology().service("web")
        assert isinstance(web.router, HAProxyRouterSpec)
        sandbox.deploy("web", "2.0.0")
        router = HAProxyRouter(RuntimeAPI(web.router.runtime_api), "web")
        deadline = time.monotonic() + 15
        while not router.pool_up(Pool.CANARY):  # the redeployed slot passes HAProxy's checks
            assert time.monotonic() < deadline, "the canary slot never came up in HAProxy"
            time.sleep(0.1)
        observed = {}
        with httpx.Client(timeout=5, headers=sandbox.origin_headers()) as client:
            for percent in (10, 50):
                router.write_weights(Weights.canary_percent(percent))
                versions = Counter(
                    client.get(sandbox.public_url("web") + "/").headers["x-app-version"] for _ in range(1000)
                )
                observed[percent] = versions["2.0.0"] / 10
    finally:
        sandbox.down()
    assert all(abs(share - percent) <= 1 for percent, share in observed.items()), observed


def test_haproxy_refuses_requests_without_the_origin_credential(tmp_path: Path) -> None:
    """The sandbox shows the cloud's origin lock: only requests carrying the credential that
    Cloudflare's rule adds (X-Azure-FDID) get past the router; anything else is refused with 403."""
    sandbox = Sandbox(tmp_path / "sandbox")
    sandbox.up()
    try:
        url = sandbox.public_url("web") + "/"
        (header, credential), *_ = sandbox.origin_headers().items()
        assert header == "X-Azure-FDID"
        assert httpx.get(url, timeout=5).status_code == 403
        assert (
            httpx.get(url, headers={header: "00000000-0000-0000-0000-000000000000"}, timeout=5).status_code
            == 403
        )
        allowed = httpx.get(url, headers={header: credential}, timeout=5)
        assert allowed.status_code == 200 and allowed.headers["x-app-version"] == "1.0.0"
    finally:
        sandbox.down()


def test_the_sandbox_keeps_its_files_private_and_its_runtime_api_on_a_unix_socket(tmp_path: Path) -> None:
    """Everything under the sandbox's directory is 0700/0600 (configs, state, topology, logs,
    Prometheus' data), and HAProxy's admin-level runtime API is a 0600 unix socket, not a TCP port."""
    sandbox = Sandbox(tmp_path / "sandbox")
    state = sandbox.up().state
    try:
        socket_path = Path(state.runtime_api_socket)
        assert stat.S_ISSOCK(socket_path.stat().st_mode)
        assert stat.filemode(socket_path.stat().st_mode) == "srw-------"
        assert HAProxyRouter(RuntimeAPI(str(socket_path)), "web").read_weights() == Weights.all_stable()
        config = (tmp_path / "sandbox" / "haproxy.cfg").read_text()
        assert f"stats socket {socket_path} mode 600 level admin" in config and "ipv4@" not in config
        for name, mode in modes(tmp_path / "sandbox").items():
            expected = {"d": "drwx------", "s": "srw-------"}.get(mode[0], "-rw-------")
            assert mode == expected, name
    finally:
        sandbox.down()


def test_a_port_taken_between_its_choice_and_the_start_starts_again_with_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under -n 4 an outgoing connection took HAProxy's chosen port before HAProxy started
    ("cannot bind socket"), and `sandbox.up` failed. Here a listener of the test's own holds a
    slot's port: the slot cannot listen, the listener's answer is not taken for the slot's, and
    the sandbox starts again with new ports."""
    choose = processes.free_ports
    calls: list[int] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        squatted = squatter.getsockname()[1]

        def chosen_with_one_taken(count: int) -> list[int]:
            ports = choose(count)
            calls.append(count)
            if len(calls) == 1:
                ports[5] = squatted  # the first service's first slot: free when chosen, then taken
            return ports

        monkeypatch.setattr(processes, "free_ports", chosen_with_one_taken)
        sandbox = Sandbox(tmp_path / "sandbox")
        try:
            state = sandbox.up().state
            assert len(calls) == 2  # started again
            slots = {slot.port for service in state.services.values() for slot in service.slots.values()}
            assert squatted not in slots and sandbox.is_running()
        finally:
            sandbox.down()


def test_ports_are_chosen_outside_the_ephemeral_range_and_never_twice() -> None:
    low, high = (int(bound) for bound in processes.EPHEMERAL_RANGE.read_text().split())
    ports = processes.free_ports(40)
    assert len(set(ports)) == 40
    assert all(not low <= port <= high for port in ports)


def test_an_ephemeral_range_that_leaves_too_few_ports_outside_it_falls_back_to_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = tmp_path / "ip_local_port_range"
    wide.write_text("1024\t65535\n")
    monkeypatch.setattr(processes, "EPHEMERAL_RANGE", wide)
    assert sorted(processes.listening_port_candidates()) == list(range(1024, 65536))
