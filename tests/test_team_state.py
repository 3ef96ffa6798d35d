"""Team use: two shells with their own state directories and host names sharing one PostgreSQL
state store, releasing through `invoke` against the local Cloudflare, Azure and Kubernetes fakes
(what a laptop and a CI runner would both move).

The two "machines" run on one: each shell records a different host name (`PLATFORM_HOST_NAME`, the
name the lock records its holders under), so neither can judge the other's processes and each
relies on the lease, judged on the database server's clock, exactly as two machines do.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from releases.journal import EventKind, Journal, Note
from releases.plan import Step
from releases.state.store import StateStore, parse_url
from tests.releases.cloud_fakes.world import STAGING, WEB_BALANCER, CloudWorld, cloud_world
from tests.releases.sandbox_helpers import Operator
from tests.state_stores import upgraded, wait_for_rows

pytestmark = pytest.mark.e2e

# A bake long enough to act during it, and a lease short enough for a pause to outlive it.
FIRST_WEB_STEP = ("release", "--service", "web", "--percent", "10", "--version", "1.1.0")
BAKING = "SELECT 1 FROM events WHERE kind = 'intent' AND action = :step"
SLOW = {**STAGING, "lease_seconds": 2, "analysis": {**STAGING["analysis"], "bake_seconds": 60}}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[CloudWorld]:
    with cloud_world(tmp_path / "cloud") as fakes:
        yield fakes


class Shell(Operator):
    """One operator's terminal on one machine: a state directory and host name of its own, the
    team's state URL, and the cloud credentials."""

    def __init__(
        self,
        world: CloudWorld,
        state_dir: Path,
        host: str,
        url: str,
        staging: dict[str, Any] | None = None,
        clouds: dict[str, Any] | None = None,
    ) -> None:
        config = {
            "releases": {"staging": staging or STAGING, "clouds": {**world.clouds_config(), **(clouds or {})}}
        }
        super().__init__(state_dir, config)
        self.world = world
        self.env.update(world.environment())
        self.env.update({"PLATFORM_STATE_URL": url, "PLATFORM_HOST_NAME": host})

    def cloud(self, *args: str) -> list[str]:
        return [*args, "--env", "staging", "--topology", str(self.world.topology_file)]


def history(shell: Shell) -> list[dict[str, Any]]:
    result = shell.run("history", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_two_shells_share_one_lock_and_one_history(
    world: CloudWorld, tmp_path: Path, postgres_url: str
) -> None:
    alice = Shell(world, tmp_path / "alice", "laptop-a", postgres_url, staging=SLOW)
    bob = Shell(world, tmp_path / "bob", "laptop-b", postgres_url)
    upgrade = alice.run("state.upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    store = StateStore(postgres_url)

    release = alice.start(
        *alice.cloud("release", "--service", "web", "--percent", "10", "--version", "1.1.0")
    )
    try:
        wait_for_rows(
            store, "SELECT 1 FROM events WHERE kind = 'intent' AND action = :step", 60, step=Step.BAKE
        )
        refused = bob.run(*bob.cloud("release", "--service", "web", "--percent", "50"))
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "lock held by" in refused.stderr and "on laptop-a" in refused.stderr
        status = bob.run(*bob.cloud("status", "--service", "web", "--json"))
        lock = json.loads(status.stdout)["services"]["web"]["lock"]
        assert lock["host"] == "laptop-a" and lock["token"] == 1

        release.send_signal(signal.SIGSTOP)
        time.sleep(3)  # past alice's 2 s lease, on the database server's clock
        rollback = bob.run(*bob.cloud("rollback", "--service", "web", "--reason", "alice is unreachable"))
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        release.send_signal(signal.SIGCONT)
        output, _ = release.communicate(timeout=60)
    finally:
        release.kill()
        release.wait()
    assert release.returncode == 3, output
    assert "is no longer current" in output

    journal = Journal(store, "observer")
    (taken,) = [e for e in journal.events() if e.action == Note.LOCK_TAKEN_OVER]
    assert taken.detail["live"] is False and "on laptop-a" in taken.detail["previous_holder"]
    assert all(e.token != 1 for e in journal.events() if e.seq > taken.seq)  # alice wrote nothing after
    assert world.cloudflare.weights(WEB_BALANCER) == {"d" * 32: 1.0, "e" * 32: 0.0}

    second = bob.run(*bob.cloud("release", "--service", "api", "--percent", "10", "--version", "2.0.0"))
    assert second.returncode == 0, second.stdout + second.stderr
    for shell in (alice, bob):
        seen = {(r["service"], r["version"], r["outcome"]) for r in history(shell)}
        assert seen == {("web", "1.1.0", "rolled_back"), ("api", "2.0.0", None)}
    # The gate figures the api release published are there for any shell sharing the store.
    api = journal.latest_release("staging", "api")
    assert api is not None
    gates = [e for e in journal.events(api.id) if e.kind is EventKind.GATE]
    assert gates and all("verdict" in gate.detail for gate in gates)
    password = str(parse_url(postgres_url).password)
    rows = json.dumps([e.detail for e in journal.events()])
    assert password not in rows + output + refused.stderr + rollback.stdout + rollback.stderr


@pytest.mark.skipif(
    shutil.which("faketime") is None, reason="faketime is not installed (`./dev` installs it)"
)
def test_a_shell_whose_clock_is_an_hour_ahead_cannot_take_a_live_lock(
    world: CloudWorld, tmp_path: Path, postgres_url: str
) -> None:
    url = upgraded(postgres_url)
    alice = Shell(world, tmp_path / "alice", "laptop-a", url, staging={**SLOW, "lease_seconds": 10})
    bob = Shell(world, tmp_path / "bob", "laptop-b", url)
    release = alice.start(
        *alice.cloud("release", "--service", "web", "--percent", "10", "--version", "1.1.0")
    )
    try:
        wait_for_rows(
            StateStore(url),
            "SELECT 1 FROM events WHERE kind = 'intent' AND action = :step",
            60,
            step=Step.BAKE,
        )
        skewed = bob.run_skewed("+1h", *bob.cloud("release", "--service", "web", "--percent", "50"))
        assert skewed.returncode == 3, skewed.stdout + skewed.stderr
        assert "lock held by" in skewed.stderr and "on laptop-a" in skewed.stderr
        assert release.poll() is None
    finally:
        release.kill()
        release.wait()


def test_two_shells_spend_one_cloudflare_budget(world: CloudWorld, tmp_path: Path, postgres_url: str) -> None:
    """Each shell alone stays under the limit; together they are stopped at it, and Cloudflare never
    receives more requests than the budget allows."""
    url = upgraded(postgres_url)
    budget = {"cloudflare_requests_per_5_minutes": 7}
    shells = [Shell(world, tmp_path / name, f"laptop-{name}", url, clouds=budget) for name in ("a", "b")]
    sent_by: dict[str, int] = {"laptop-a": 0, "laptop-b": 0}
    refusal = None
    for turn in range(10):
        shell = shells[turn % 2]
        before = len(world.cloudflare.requests)
        result = shell.run(*shell.cloud("status", "--service", "web"))
        sent_by[shell.env["PLATFORM_HOST_NAME"]] += len(world.cloudflare.requests) - before
        if result.returncode != 0:
            refusal = result
            break
    assert refusal is not None and refusal.returncode == 3
    assert "the commands sharing the state store have used the budget of 7 requests" in refusal.stderr
    assert len(world.cloudflare.requests) == 7
    assert all(0 < sent < 7 for sent in sent_by.values())


def test_the_state_url_can_come_from_key_vault(world: CloudWorld, tmp_path: Path, postgres_url: str) -> None:
    """No URL in the environment or a file: the team's URL is the Key Vault secret the configuration
    names, read with the operator's Azure credential; its password is shown nowhere."""
    world.azure.vault["platform-state-url"] = (postgres_url, True)
    shell = Shell(world, tmp_path / "carol", "laptop-c", postgres_url)
    del shell.env["PLATFORM_STATE_URL"]
    config = yaml.safe_load(shell.config_file.read_text())
    config["releases"]["state_url_secret"] = {"vault_url": world.azure.url}
    shell.config_file.write_text(yaml.safe_dump(config))
    upgrade = shell.run("state.upgrade")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert "state store postgresql://platform:[secret]@127.0.0.1" in upgrade.stdout
    release = shell.run(*shell.cloud(*FIRST_WEB_STEP))
    assert release.returncode == 0, release.stdout + release.stderr
    assert [r["version"] for r in history(shell)] == ["1.1.0"]
    assert Journal(postgres_url, "observer").releases()[0].version == "1.1.0"  # it is the team's store
    password = str(parse_url(postgres_url).password)
    assert password not in upgrade.stdout + upgrade.stderr + release.stdout + release.stderr
