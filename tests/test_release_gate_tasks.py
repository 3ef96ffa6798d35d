"""The gates on a real sandbox, through `invoke` as an operator types it: with no load
a release is held (exit 5, traffic unchanged); 30% errors at 40 requests/s are rolled back at the
10% step; 0.5% errors (limit 1%) at 100 requests/s are promoted; a metric source that dies
mid-bake holds the release instead of passing it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.releases.sandbox_helpers import Operator, needs_sandbox_programs, steady_load

pytestmark = [pytest.mark.e2e, needs_sandbox_programs]

# The sandbox's own gate settings (tasks.py DEFAULTS: 1% and 500 ms, 8 s minimum bake, 15 s idle),
# only the health gate quicker.
SANDBOX = {"releases": {"sandbox": {"health": {"consecutive": 2, "interval_seconds": 0.1}}}}


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    person = Operator(tmp_path / "state", SANDBOX)
    up = person.run("sandbox.up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield person
    person.run("sandbox.down")


def held_notes(operator: Operator) -> list[tuple[str]]:
    with sqlite3.connect(operator.state_dir / "journal.sqlite", timeout=10) as connection:
        return connection.execute("SELECT detail FROM events WHERE action = 'held'").fetchall()


def test_without_load_the_release_is_held_with_traffic_unchanged(operator: Operator) -> None:
    """It ended "promoted", exit 0: every bake was "0 requests ... inconclusive"."""
    deploy = operator.run("sandbox.deploy", "--version", "2.2.0", "--error-rate", "0.3")
    assert deploy.returncode == 0, deploy.stderr
    result = operator.run("release", "--auto", "--version", "2.2.0")
    assert result.returncode == 5, result.stdout + result.stderr
    assert "gate inconclusive at 10%" in result.stderr
    assert "no request reached the canary pool" in result.stderr
    assert "`invoke release --percent 10`" in result.stderr and "`invoke rollback`" in result.stderr
    web = operator.status()
    assert web["weights"] == {"stable": 0.9, "canary": 0.1}  # the step's weights, not moved on
    assert web["production"]["version"] == "1.0.0"
    assert web["release"]["outcome"] is None  # in flight, held: release or rollback move it on
    assert len(held_notes(operator)) == 1


def test_thirty_percent_errors_at_forty_requests_a_second_roll_back_at_the_first_step(
    operator: Operator,
) -> None:
    """At 40 requests/s the 10% step never reached `min_requests`: "32 requests, error rate 43%"
    was inconclusive and the release moved to 50%."""
    deploy = operator.run("sandbox.deploy", "--version", "2.2.0", "--error-rate", "0.3")
    assert deploy.returncode == 0, deploy.stderr
    with steady_load(operator, rate=40, seconds=120):
        result = operator.run("release", "--auto", "--version", "2.2.0")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "gate failed at 10%" in result.stderr and "Rolled back" in result.stderr
    web = operator.status()
    assert web["weights"] == {"stable": 1.0, "canary": 0.0}
    assert web["release"]["outcome"] == "rolled_back"


def test_half_the_error_limit_at_a_hundred_requests_a_second_is_promoted(operator: Operator) -> None:
    """A true 0.5% against 1% was rolled back 3 times of 3: a point estimate over small windows,
    re-judged every second. Showing 0.5% under 1% takes a few thousand canary requests, so the
    steps are 50% and 100%: at 10% the time that takes grows with how busy the machine is (on a
    loaded one the load generator reaches a third of its rate), past the sandbox's 600 s limit."""
    halves = {**SANDBOX["releases"]["sandbox"], "steps": [50, 100]}
    operator = Operator(operator.state_dir, {"releases": {"sandbox": halves}})
    deploy = operator.run("sandbox.deploy", "--version", "2.4.0", "--error-rate", "0.005")
    assert deploy.returncode == 0, deploy.stderr
    with steady_load(operator, rate=100, seconds=600):
        # Past the bake's own 600 s deadline: a hold is reported as one, with its reasons.
        result = operator.run("release", "--auto", "--version", "2.4.0", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    web = operator.status()
    assert web["production"]["version"] == "2.4.0"
    assert web["release"]["outcome"] == "promoted"


def test_prometheus_gone_mid_bake_holds_instead_of_passing(operator: Operator) -> None:
    """Killing Prometheus mid-bake was "inconclusive", and the release moved on."""
    long_bake = {**SANDBOX["releases"]["sandbox"], "analysis": {"bake_seconds": 30}}
    slow = Operator(operator.state_dir, {"releases": {"sandbox": long_bake}})
    with steady_load(operator, rate=100, seconds=120):
        release = slow.start("release", "--percent", "10", "--version", "2.0.0")
        _wait_for_bake(operator)
        time.sleep(2)
        state = json.loads((operator.state_dir / "sandbox" / "sandbox.json").read_text())
        os.kill(state["processes"]["prometheus"]["pid"], signal.SIGKILL)  # the sandbox's, started here
        output, _ = release.communicate(timeout=120)
    assert release.returncode == 5, output
    assert "the metric source did not answer" in output
    # (`status` refuses now: the sandbox is incomplete.) The release says where traffic is.
    assert "Held: traffic is unchanged (stable=0.9 canary=0.1)" in output
    assert len(held_notes(operator)) == 1


def _wait_for_bake(operator: Operator, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    path = operator.state_dir / "journal.sqlite"
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(path, timeout=10) as connection:
                if connection.execute(
                    "SELECT 1 FROM events WHERE kind = 'intent' AND action = 'bake'"
                ).fetchall():
                    return
        time.sleep(0.05)
    pytest.fail("the release never reached its bake")
