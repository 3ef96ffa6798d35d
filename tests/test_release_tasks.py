"""`invoke release/rollback/status/history/rehearse` end to end on a real sandbox: the exit-code
table, nothing changed on bad input, kill-and-resume at every step, and the rehearsal's report."""

from __future__ import annotations

import json
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from releases.plan import Step
from releases.rehearsal.load import LoadGenerator
from tests.releases.sandbox_helpers import (
    Operator,
    journal_rows,
    needs_sandbox_programs,
    origin_headers,
    public_url,
    steady_load,
    wait_for_intent,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    person = Operator(tmp_path / "state")
    up = person.run("sandbox.up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield person
    person.run("sandbox.down")


@pytest.mark.parametrize("percent", ["0", "101", "-5", "10.5", "ten"])
def test_bad_percent_is_bad_input_and_changes_nothing(tmp_path: Path, percent: str) -> None:
    person = Operator(tmp_path / "state")
    result = person.run("release", f"--percent={percent}", "--version", "2.0.0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--percent must be a whole number from 1 to 100" in result.stderr
    assert journal_rows(person, "SELECT * FROM releases") == []


def test_unknown_environment_is_bad_input(tmp_path: Path) -> None:
    result = Operator(tmp_path / "state").run("release", "--percent", "10", "--version", "2", "--env", "qa")
    assert result.returncode == 2
    assert "unknown --env 'qa'; expected one of: sandbox, staging, production" in result.stderr


@needs_sandbox_programs
def test_sandbox_not_running_is_refused(tmp_path: Path) -> None:
    result = Operator(tmp_path / "state").run("release", "--percent", "10", "--version", "2.0.0")
    assert result.returncode == 3
    assert "the sandbox is not running; start it with `invoke sandbox.up`" in result.stderr


@needs_sandbox_programs
def test_refusals_and_bad_input_on_a_running_sandbox(operator: Operator) -> None:
    unknown = operator.run("release", "--percent", "10", "--version", "2.0.0", "--service", "db")
    assert unknown.returncode == 2 and "unknown --service 'db'" in unknown.stderr

    no_version = operator.run("release", "--percent", "10")
    assert no_version.returncode == 2 and "the first step needs --version" in no_version.stderr

    nothing = operator.run("rollback")
    assert nothing.returncode == 3 and "nothing to roll back" in nothing.stderr

    deploy = operator.run("sandbox.deploy", "--version", "3.0.0", "--unhealthy")
    assert deploy.returncode == 0, deploy.stderr
    unjudged = operator.run("release", "--percent", "100", "--version", "3.0.0")
    assert unjudged.returncode == 3 and "no canary step has run" in unjudged.stderr
    unhealthy = operator.run("release", "--percent", "10", "--version", "3.0.0")
    assert unhealthy.returncode == 4 and "did not report healthy" in unhealthy.stderr
    assert "No user traffic reaches 3.0.0: the release is held at 0%" in unhealthy.stderr
    web = operator.status()
    assert web["production"]["version"] == "1.0.0" and web["weights"] == {"stable": 1.0, "canary": 0.0}
    assert web["release"]["state"] == "held" and web["release"]["hold"] == "health failed"

    # A held release that never took traffic does not block the next version: it is aborted.
    with steady_load(operator):
        fixed = operator.run("release", "--percent", "10", "--version", "3.0.1")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [(r["version"], r["outcome"]) for r in json.loads(operator.run("history", "--json").stdout)] == [
        ("3.0.0", "aborted"),
        ("3.0.1", None),
    ]


@needs_sandbox_programs
def test_a_second_release_while_one_holds_the_lock_is_refused(operator: Operator) -> None:
    slow = Operator(operator.state_dir, {"releases": {"sandbox": {"analysis": {"bake_seconds": 60}}}})
    first = slow.start("release", "--percent", "10", "--version", "2.0.0")
    try:
        wait_for_intent(operator, Step.BAKE, timeout=30)
        second = operator.run("release", "--percent", "50")
        assert second.returncode == 3
        assert "lock held by" in second.stderr and f"(pid {first.pid}," in second.stderr
    finally:
        first.kill()
        first.wait()


@needs_sandbox_programs
def test_a_failed_gate_rolls_back_with_exit_code_4(operator: Operator) -> None:
    # A bake long enough for Prometheus (scraping each second) to see the canary's errors.
    operator = Operator(
        operator.state_dir,
        {
            "releases": {
                "sandbox": {"analysis": {"bake_seconds": 10, "interval_seconds": 1, "min_requests": 20}}
            }
        },
    )
    deploy = operator.run("sandbox.deploy", "--version", "4.0.0", "--error-rate", "0.5")
    assert deploy.returncode == 0, deploy.stderr
    load = LoadGenerator(
        public_url(operator), rate=100, max_requests=3000, max_seconds=30, headers=origin_headers(operator)
    )
    load.start()
    try:
        result = operator.run("release", "--percent", "50", "--version", "4.0.0")
    finally:
        load.stop()
    assert result.returncode == 4, result.stdout + result.stderr
    assert "gate failed at 50%" in result.stderr and "Rolled back" in result.stderr
    web = operator.status()
    assert web["weights"] == {"stable": 1.0, "canary": 0.0}
    assert web["release"]["outcome"] == "rolled_back"


STEPS = [Step.DEPLOY, Step.HEALTH, Step.WEIGHTS, Step.BAKE, Step.PROMOTE, Step.VERIFY]


@needs_sandbox_programs
@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_a_rerun_converges(operator: Operator, step: Step) -> None:
    with steady_load(operator):
        release = operator.start("release", "--auto", "--version", "2.0.0")
        wait_for_intent(operator, step, timeout=180)
        release.send_signal(signal.SIGKILL)
        release.wait()
        rerun = operator.run("release", "--auto")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    web = operator.status()
    assert web["production"]["version"] == "2.0.0"
    assert web["staging"]["version"] == "1.0.0"
    assert web["weights"] == {"stable": 1.0, "canary": 0.0}
    assert web["release"]["outcome"] == "promoted"
    assert web["lock"] is None


@needs_sandbox_programs
def test_rehearsal_report(tmp_path: Path) -> None:
    """The main job end to end (default sandbox settings, about three minutes)."""
    person = Operator(tmp_path / "state", config={})
    report_path = tmp_path / "report.json"
    result = person.run("rehearse", "--json", str(report_path), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["requests"]["total"] > 0
    assert report["requests"]["failed"] == 0, report["requests"]["failure_examples"]
    assert report["requests"]["fault_errors"] > 0  # the bad release's injected errors were seen
    outcomes = {s["name"]: s["outcome"] for s in report["scenarios"]}
    assert outcomes == {
        "good release": "promoted",
        "bad release": "rolled_back",
        "promotion then manual rollback": "rolled_back",
        "release with a migration": "promoted",
        "release with no load": "held",
        "bad release under thin load": "rolled_back",
    }
    idle, thin = report["scenarios"][4], report["scenarios"][5]
    assert idle["exit_codes"] == [5, 0] and idle["stopped_at_percent"] == 10  # held, then rolled back
    assert thin["exit_codes"] == [0, 4] and thin["stopped_at_percent"] == 10
    assert thin["detection_seconds"] is not None
    migration = report["scenarios"][3]
    assert migration["backup"]["verified"].startswith("restored into a scratch database")
    assert migration["backup"]["verified"].endswith("every count matches")
    assert migration["migration"]["output"] == "migrate: applied 2.3.0"
    manual = report["scenarios"][2]
    assert manual["rollback_seconds"] is not None and set(manual["canary_share"]) == {"10", "50"}
    assert report["scenarios"][1]["detection_seconds"] is not None
    # The router's weighted rotation sends each step its share (the issue allows 3 points).
    shares = [
        (int(percent), share) for s in report["scenarios"] for percent, share in s["canary_share"].items()
    ]
    assert all(share is not None and abs(share * 100 - percent) <= 3 for percent, share in shares), shares
    history = person.run("history", "--json", "--env", "sandbox")
    releases = json.loads(history.stdout)
    assert [(r["version"], r["outcome"]) for r in releases] == [
        ("2.0.0", "promoted"),
        ("2.1.0", "rolled_back"),
        ("2.2.0", "rolled_back"),
        ("2.3.0", "promoted"),
        ("2.4.0", "rolled_back"),
        ("2.5.0", "rolled_back"),
    ]
    assert [r["migration"] for r in releases] == [None, None, None, "reversible", None, None]
    assert not (tmp_path / "state" / "sandbox").exists()  # the rehearsal took its sandbox down
    # State at rest: the journal, the rehearsal's logs and samples, the report: 0600 in 0700
    # directories (the test's own invoke configuration aside).
    for path in [person.state_dir, *person.state_dir.rglob("*"), report_path]:
        if path != person.config_file:
            assert stat.filemode(path.stat().st_mode) in ("drwx------", "-rw-------"), path
