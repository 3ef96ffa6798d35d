"""Safety under faults, end to end on a real sandbox through `invoke`: a holder paused past its
lease, rollback from a second shell while a release bakes, a journal held busy, SIGINT and SIGTERM
at every step, a skewed second operator, a dead stable slot, a hung or dead router, and the
sandbox's own bookkeeping."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from releases.plan import Step
from releases.rehearsal.load import LoadGenerator
from releases.sandbox.state import SandboxState
from tests.releases.sandbox_helpers import (
    Operator,
    fast,
    journal_rows,
    needs_sandbox_programs,
    origin_headers,
    pause_between_writes,
    public_url,
    steady_load,
    wait_for_intent,
)

pytestmark = [pytest.mark.e2e, needs_sandbox_programs]

# A bake long enough to act during it; a short lease, so that a pause outlives it.
SLOW_BAKE = fast(lease_seconds=2, analysis={"bake_seconds": 60, "interval_seconds": 0.5})


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    person = Operator(tmp_path / "state")
    up = person.run("sandbox.up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield person
    person.run("sandbox.down")


def _sandbox(operator: Operator) -> SandboxState:
    return SandboxState.model_validate_json((operator.state_dir / "sandbox" / "sandbox.json").read_text())


def _tokens(operator: Operator) -> dict[int, list[int]]:
    """Event sequence numbers by the fencing token of the lock holder that wrote them."""
    by_token: dict[int, list[int]] = {}
    for seq, token in journal_rows(operator, "SELECT seq, token FROM events WHERE token IS NOT NULL"):
        by_token.setdefault(token, []).append(seq)
    return by_token


def _history(operator: Operator) -> list[dict[str, Any]]:
    result = operator.run("history", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_holder_paused_past_its_lease_writes_nothing_after_a_rollback(operator: Operator) -> None:
    """The first case of the interruption-safety issue: SIGSTOP beyond the lease, a rollback from
    another shell, SIGCONT. Under load, so that what users saw is checked too."""
    slow = Operator(operator.state_dir, SLOW_BAKE)
    load = LoadGenerator(
        public_url(operator), rate=100, max_requests=6000, max_seconds=60, headers=origin_headers(operator)
    )
    load.start()
    release = slow.start("release", "--auto", "--version", "2.0.0")
    try:
        wait_for_intent(operator, Step.BAKE, timeout=60)
        pause_between_writes(release, operator)
        time.sleep(3)  # past the 2 s lease: the paused holder's heartbeat is paused too
        rollback = operator.run("rollback", "--reason", "paused release")
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        release.send_signal(signal.SIGCONT)
        output, _ = release.communicate(timeout=30)
        time.sleep(1)
    finally:
        release.kill()
        load.stop()
    assert release.returncode == 3, output
    assert "is no longer current" in output and "stopped before its next write" in output

    tokens = _tokens(operator)
    old, new = sorted(tokens)[:2]
    assert max(tokens[old]) < min(tokens[new])  # not one event from the old holder after the takeover
    web = operator.status()
    assert web["weights"] == {"stable": 1.0, "canary": 0.0}
    assert web["production"]["version"] == "1.0.0"
    assert web["lock"] is None
    assert [(r["version"], r["outcome"], r["reason"]) for r in _history(operator)] == [
        ("2.0.0", "rolled_back", None)
    ]
    # No user reached 2.0.0 once the rollback's weights were written (as the journal timed it: on a
    # busy machine the rollback command itself may take seconds to start), and after SIGCONT.
    (rolled_back_at,) = journal_rows(
        operator,
        "SELECT max(at) FROM events WHERE kind = 'outcome' AND action = ? AND token = ?",
        Step.WEIGHTS,
        new,
    )[0]
    late = [s for s in load.samples if s.version == "2.0.0" and s.sent_at > rolled_back_at + 1]
    assert rolled_back_at is not None and late == []


def test_rollback_from_a_second_shell_takes_over_a_baking_release(operator: Operator) -> None:
    slow = Operator(operator.state_dir, fast(analysis={"bake_seconds": 60, "interval_seconds": 0.5}))
    release = slow.start("release", "--percent", "10", "--version", "2.0.0")
    try:
        wait_for_intent(operator, Step.BAKE, timeout=60)
        rollback = operator.run("rollback")
        output, _ = release.communicate(timeout=30)
    finally:
        release.kill()
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "took the lock over from" in rollback.stdout
    assert release.returncode == 3 and "is no longer current" in output
    taken = journal_rows(operator, "SELECT detail FROM events WHERE action = 'lock-taken-over'")
    assert len(taken) == 1
    detail = json.loads(taken[0][0])
    assert detail["live"] is True and detail["new_token"] == detail["previous_token"] + 1
    assert f"pid {release.pid}" in detail["previous_holder"]
    assert operator.status()["weights"] == {"stable": 1.0, "canary": 0.0}


def test_a_journal_held_busy_past_the_lease_does_not_let_a_stale_holder_undo_a_rollback(
    operator: Operator,
) -> None:
    """The busy-journal case: another connection holds the journal exclusively for longer than
    the lease. The heartbeat survives it; a rollback afterwards still fences the old holder."""
    slow = Operator(operator.state_dir, SLOW_BAKE)
    release = slow.start("release", "--auto", "--version", "2.0.0")
    try:
        wait_for_intent(operator, Step.BAKE, timeout=60)
        with sqlite3.connect(operator.state_dir / "journal.sqlite", timeout=10) as busy:
            busy.execute("BEGIN EXCLUSIVE")
            time.sleep(4)  # twice the lease
            busy.execute("COMMIT")
        time.sleep(1.5)  # the heartbeat renews again
        (expires,) = journal_rows(operator, "SELECT expires_at FROM leases WHERE owner IS NOT NULL")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        assert expires[0] > uptime  # renewed: the heartbeat did not die of the busy journal
        assert release.poll() is None
        rollback = operator.run("rollback")
        output, _ = release.communicate(timeout=30)
    finally:
        release.kill()
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert release.returncode == 3, output
    tokens = _tokens(operator)
    old, new = sorted(tokens)[:2]
    assert max(tokens[old]) < min(tokens[new])
    assert operator.status()["weights"] == {"stable": 1.0, "canary": 0.0}


# Every step of a release, each long enough to be caught in.
INTERRUPTIBLE = fast(analysis={"bake_seconds": 5, "interval_seconds": 0.5}, verify_seconds=4)
# Enough bake, under steady load, for the gates to see the canary pass (thin evidence holds).
JUDGED = fast(analysis={"bake_seconds": 5, "interval_seconds": 0.5})


@pytest.mark.parametrize(
    ("step", "signum"),
    [
        (step, signal.SIGINT)
        for step in (Step.DEPLOY, Step.HEALTH, Step.WEIGHTS, Step.BAKE, Step.PROMOTE, Step.VERIFY)
    ]
    + [(step, signal.SIGTERM) for step in (Step.HEALTH, Step.BAKE, Step.VERIFY)],
)
def test_interrupted_at_any_step_journals_releases_the_lock_and_resumes(
    tmp_path: Path, step: Step, signum: signal.Signals
) -> None:
    operator = Operator(tmp_path / "state", INTERRUPTIBLE)
    assert operator.run("sandbox.up").returncode == 0
    try:
        with steady_load(operator):
            release = operator.start("release", "--auto", "--version", "2.0.0")
            wait_for_intent(operator, step, timeout=60)
            release.send_signal(signum)
            output, _ = release.communicate(timeout=30)
            reached = operator.status()
            rerun = operator.run("release", "--auto")
        assert release.returncode == (130 if signum == signal.SIGINT else 143), output
        assert f"interrupted by {signum.name}" in output and "Traceback" not in output
        assert "Journaled. The lock is released." in output and "Traffic: stable=" in output
        assert "`invoke rollback`" in output
        (note,) = journal_rows(operator, "SELECT detail FROM events WHERE action = 'interrupted'")
        assert json.loads(note[0])["signal"] == signum.name
        assert reached["lock"] is None
        assert reached["release"]["state"] == "held" and reached["release"]["hold"] == "interrupted"
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        web = operator.status()
        assert web["release"]["outcome"] == "promoted" and web["production"]["version"] == "2.0.0"
        assert web["weights"] == {"stable": 1.0, "canary": 0.0}
    finally:
        operator.run("sandbox.down")


@pytest.mark.skipif(
    shutil.which("faketime") is None, reason="faketime is not installed (`./dev` installs it)"
)
def test_a_skewed_second_operator_cannot_take_a_live_lock(operator: Operator) -> None:
    """A second shell whose clock is an hour ahead (libfaketime) judges the lease on the journal's
    clock, not its own: the live holder keeps its lock, and the sandbox's processes still count
    as running."""
    slow = Operator(operator.state_dir, fast(analysis={"bake_seconds": 60}))
    release = slow.start("release", "--percent", "10", "--version", "2.0.0")
    try:
        wait_for_intent(operator, Step.BAKE, timeout=60)
        skewed = operator.run_skewed("+1h", "release", "--percent", "50")
        assert skewed.returncode == 3, skewed.stdout + skewed.stderr
        assert "lock held by" in skewed.stderr
        status = operator.run_skewed("-10m", "sandbox.status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "NO" not in status.stdout
        assert release.poll() is None
    finally:
        release.kill()
        release.wait()


def test_a_dead_stable_slot_does_not_wedge_the_release(operator: Operator) -> None:
    operator = Operator(operator.state_dir, JUDGED)
    with steady_load(operator):
        first = operator.run("release", "--percent", "10", "--version", "2.0.0")
        assert first.returncode == 0, first.stdout + first.stderr
        production = operator.status()["production"]["slot"]
        psutil.Process(_sandbox(operator).processes[f"web-{production}"].pid).kill()
        # Until HAProxy's checks mark it down, users sent to the dead slot get 503s; promote after.
        time.sleep(3)
        promote = operator.run("release", "--percent", "100")
    assert promote.returncode == 0, promote.stdout + promote.stderr
    web = operator.status()
    assert web["release"]["outcome"] == "promoted" and web["production"]["version"] == "2.0.0"


def test_rollback_and_status_need_only_the_router(operator: Operator) -> None:
    operator = Operator(operator.state_dir, JUDGED)
    with steady_load(operator):
        first = operator.run("release", "--percent", "10", "--version", "2.0.0")
    assert first.returncode == 0, first.stdout + first.stderr
    processes = _sandbox(operator).processes
    for name in ("prometheus", "redis"):
        psutil.Process(processes[name].pid).kill()
    assert operator.run("status").returncode == 0
    rollback = operator.run("rollback")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert operator.status()["weights"] == {"stable": 1.0, "canary": 0.0}


def test_a_hung_router_fails_the_rollback_in_bounded_time_and_the_same_command_finishes_it(
    operator: Operator,
) -> None:
    operator = Operator(operator.state_dir, JUDGED)
    with steady_load(operator):
        first = operator.run("release", "--percent", "10", "--version", "2.0.0")
    assert first.returncode == 0, first.stdout + first.stderr
    haproxy = psutil.Process(_sandbox(operator).processes["haproxy"].pid)
    haproxy.suspend()  # accepts connections on its socket, answers nothing
    try:
        stuck = operator.run("rollback")
    finally:
        haproxy.resume()
    assert stuck.returncode == 3, stuck.stdout + stuck.stderr
    assert "HAProxy runtime API" in stuck.stderr and "unreachable (timed out)" in stuck.stderr
    web = operator.status()
    assert web["release"]["state"] == "in flight" and web["weights"] == {"stable": 0.9, "canary": 0.1}
    rollback = operator.run("rollback")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    web = operator.status()
    assert web["weights"] == {"stable": 1.0, "canary": 0.0} and web["release"]["outcome"] == "rolled_back"


def test_a_dead_router_refuses_the_rollback_naming_it_and_changes_nothing(operator: Operator) -> None:
    operator = Operator(operator.state_dir, JUDGED)
    with steady_load(operator):
        first = operator.run("release", "--percent", "10", "--version", "2.0.0")
    assert first.returncode == 0, first.stdout + first.stderr
    psutil.Process(_sandbox(operator).processes["haproxy"].pid).kill()
    rollback = operator.run("rollback")
    assert rollback.returncode == 3, rollback.stdout + rollback.stderr
    assert "haproxy stopped" in rollback.stderr and "invoke sandbox.up" in rollback.stderr
    release = journal_rows(operator, "SELECT outcome FROM releases ORDER BY id DESC LIMIT 1")
    assert release == [(None,)]  # still in flight: nothing claims a rollback that did not happen


def test_sandbox_up_on_a_running_sandbox_leaves_its_release_alone(operator: Operator) -> None:
    operator = Operator(operator.state_dir, JUDGED)
    with steady_load(operator):
        first = operator.run("release", "--percent", "10", "--version", "2.0.0")
    assert first.returncode == 0, first.stdout + first.stderr
    assert operator.run("sandbox.up").returncode == 0
    web = operator.status()
    assert web["release"]["state"] == "in flight" and web["release"]["last_percent"] == 10
    rollback = operator.run("rollback")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr


def test_concurrent_deploys_keep_both_slots(operator: Operator) -> None:
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def deploy(service: str) -> None:
        results[service] = operator.run("sandbox.deploy", "--version", "9.0.3", "--service", service)

    threads = [threading.Thread(target=deploy, args=(service,)) for service in ("web", "api")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.returncode == 0 for result in results.values()), results
    state = _sandbox(operator)
    versions = {
        service: {slot.version for slot in state.services[service].slots.values()}
        for service in ("web", "api")
    }
    assert versions == {"web": {"1.0.0", "9.0.3"}, "api": {"1.0.0", "9.0.3"}}
    pids = [record.pid for record in state.processes.values()]
    down = operator.run("sandbox.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_a_busy_journal_is_a_clear_refusal_not_a_traceback(operator: Operator) -> None:
    operator.run("history")  # creates the journal
    with sqlite3.connect(operator.state_dir / "journal.sqlite", timeout=10) as busy:
        busy.execute("BEGIN EXCLUSIVE")
        try:
            result = operator.run("release", "--percent", "10", "--version", "2.0.0")
        finally:
            busy.execute("ROLLBACK")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "could not be read or written: another process held it" in result.stderr
    assert operator.status()["weights"] == {"stable": 1.0, "canary": 0.0}
