"""The sandbox's real processes: up, deploy with faults, swap without restarts, down by pid."""

from __future__ import annotations

from pathlib import Path

import httpx

from releases.model import Weights
from releases.sandbox import processes
from releases.sandbox.environment import Sandbox
from releases.targets.haproxy import HAProxyRouter, RuntimeAPI
from releases.targets.sandbox_slots import SandboxSlots
from tests.releases.sandbox_helpers import needs_sandbox_programs

pytestmark = needs_sandbox_programs


def test_up_deploy_swap_and_down(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sandbox")
    state = sandbox.up()
    try:
        assert sandbox.up() == sandbox.state()  # idempotent: the running sandbox is left alone
        pids = {name: record.pid for name, record in state.processes.items()}
        web = sandbox.topology().service("web")
        slots = SandboxSlots(web.slots, web.health, deploy=lambda v: sandbox.deploy("web", v))
        production, staging = slots.probe()
        assert (production.version, staging.version) == ("1.0.0", "1.0.0")

        sandbox.deploy("web", "2.0.0", error_rate=1.0)
        production_before, staging_after = slots.probe()
        assert staging_after.version == "2.0.0" and production_before.version == "1.0.0"

        slots.swap()
        production, staging = slots.probe()
        assert (production.version, staging.version) == ("2.0.0", "1.0.0")
        response = httpx.get(web.router.public_url + "/", timeout=5)  # all traffic on stable: 2.0.0
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
