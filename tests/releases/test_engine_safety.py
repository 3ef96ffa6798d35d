"""The engine under faults, in process against the fakes: a second process taking over, signals
mid-step, a full journal, promotions whose gate never passed, evidence too thin to judge. Every
test but the full SQLite file runs against both state stores (SQLite, and a real PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from releases import signals
from releases.engine import Engine
from releases.errors import EXIT_HELD, BadInput, Held, Interrupted, JournalUnavailable, Refused, Superseded
from releases.journal import EventKind, Journal, Note
from releases.lock import ReleaseLock, current_holder
from releases.model import HoldReason, Outcome, Pool, PoolSample, ReleaseState, Weights
from releases.plan import Step
from releases.process_identity import ProcessIdentity, boot_id
from releases.settings import AnalysisGate, EnvironmentSettings, HealthGate
from releases.targets.metrics.protocol import PoolEvidence
from tests.releases.fakes import FakeClock, FakeMetrics, FakeWorld
from tests.state_stores import backends, execute, not_answering, twin, upgraded
from tests.state_stores import rows as store_rows

SETTINGS = EnvironmentSettings(
    health=HealthGate(consecutive=3, interval_seconds=1, timeout_seconds=10),
    analysis=AnalysisGate(bake_seconds=30, interval_seconds=10, min_requests=100),
    verify_seconds=20,
)
# Another process on this machine: a takeover by it fences this one.
OTHER_PROCESS = ProcessIdentity(os.getppid(), boot_id(), 1.0)


@pytest.fixture
def journal(state_url: str) -> Journal:
    return Journal(state_url, operator="alice")


@pytest.fixture
def sqlite_journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite", operator="alice")


def engine_for(world: FakeWorld, journal: Journal) -> Engine:
    clock = FakeClock()
    return Engine("sandbox", "web", world.targets, SETTINGS, journal, clock=clock, sleep=clock.sleep)


@dataclass
class DuringBake(FakeMetrics):
    """Clean traffic; on the `at`-th sample of the canary, run `then` (another shell's command,
    a signal) as if it happened while the bake waited."""

    then: Callable[[], None] = lambda: None
    at: int = 1
    calls: int = 0

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        if pool is Pool.CANARY:
            self.calls += 1
            if self.calls == self.at:
                self.then()
        return super().evidence(pool, start, end)


def rollback_from_another_process(
    world: FakeWorld, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr("releases.lock.current", lambda: OTHER_PROCESS)
        bob = Journal(twin(journal.store), operator="bob")
        engine_for(world, bob).rollback(reason="bad dashboards")


def test_a_rollback_from_another_process_stops_a_baking_release_before_its_next_write(
    world: FakeWorld, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.metrics = DuringBake(then=lambda: rollback_from_another_process(world, journal, monkeypatch))
    with pytest.raises(Superseded, match=r"\(token 1\) is no longer current: a later holder took token 2"):
        engine_for(world, journal).auto("2.0.0")
    assert world.router.writes == [Weights(0.9, 0.1), Weights.all_stable()]  # bob's rollback, nothing after
    assert world.slots.swaps == 0
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.outcome is Outcome.ROLLED_BACK and record.version == "2.0.0"
    rows = store_rows(journal.store, "SELECT seq, action, token, detail FROM events ORDER BY seq")
    taken = next(row for row in rows if row["action"] == Note.LOCK_TAKEN_OVER)
    assert json.loads(taken["detail"])["live"] is True and json.loads(taken["detail"])["previous_token"] == 1
    assert {row["token"] for row in rows if row["seq"] > taken["seq"]} == {2}  # bob's alone
    assert len(journal.releases()) == 1  # auto did not start a new release


def test_a_paused_holder_whose_lease_ran_out_is_fenced_too(journal: Journal) -> None:
    """Its lease expired (paused) and another process took the lock, no takeover needed: the old
    holder's next journal write fails its fence check, before the action it would announce."""
    paused = ReleaseLock(journal, "sandbox", "web", lease_seconds=30)
    paused.acquire()
    other = Journal(twin(journal.store), operator="bob")
    execute(other.store, "UPDATE leases SET expires_at = 0")  # the lease ran out while paused
    successor = ReleaseLock(other, "sandbox", "web", lease_seconds=30)
    successor.process = OTHER_PROCESS
    successor.acquire()
    assert successor.previous is None  # a stale lease: taken, not taken over
    with pytest.raises(Superseded, match="token 2"):
        journal.record("sandbox", "web", EventKind.INTENT, Step.WEIGHTS)
    assert store_rows(journal.store, "SELECT seq FROM events WHERE kind = 'intent'") == []


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_bake_is_journaled_holds_and_frees_the_lock(
    world: FakeWorld, journal: Journal, signum: signal.Signals, code: int
) -> None:
    world.metrics = DuringBake(then=lambda: os.kill(os.getpid(), signum))
    with signals.interruptible(), pytest.raises(Interrupted) as raised:
        engine_for(world, journal).release(10, "2.0.0")
    assert raised.value.exit_code == code
    message = str(raised.value)
    assert f"interrupted by {signum.name} during bake" in message
    assert "Traffic: stable=0.9 canary=0.1 (10% on the canary, 2.0.0)" in message
    assert "`invoke release --percent 10` resumes the step" in message and "`invoke rollback`" in message
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.state is ReleaseState.HELD and record.hold is HoldReason.INTERRUPTED
    (note,) = [e for e in journal.events(record.id) if e.action == Note.INTERRUPTED]
    assert note.detail == {"signal": signum.name, "step": "bake", "percent": 10}
    assert current_holder(journal, "sandbox", "web") is None
    assert world.router.weights == Weights(0.9, 0.1)  # left where it was, and said so


def test_a_signal_between_the_swap_and_the_weights_reset_waits_for_both(
    world: FakeWorld, journal: Journal
) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    swap = world.slots.swap

    def swap_then_signal() -> None:
        swap()
        os.kill(os.getpid(), signal.SIGINT)

    world.slots.swap = swap_then_signal  # type: ignore[method-assign]
    with signals.interruptible(), pytest.raises(Interrupted, match="during promote"):
        engine.release(100)
    assert world.slots.production.version == "2.0.0"
    assert world.router.weights == Weights.all_stable()  # no canary user was left on 1.0.0


def test_a_full_journal_stops_the_next_step_before_it_changes_anything(
    world: FakeWorld, sqlite_journal: Journal
) -> None:
    journal = sqlite_journal
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")

    @event.listens_for(journal.store.engine, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk were full

    journal.store.engine.dispose()  # every connection from now on opens on a full disk
    for _ in range(10_000):  # fill what room the last pages have left
        try:
            journal.record("sandbox", "web", EventKind.NOTE, "filler", text="x" * 500)
        except JournalUnavailable:
            break
    with pytest.raises(JournalUnavailable, match="the disk or the database is full") as raised:
        engine.release(50)
    assert "Nothing was done after the last journaled step" in str(raised.value)
    assert world.router.writes == [Weights(0.9, 0.1)] and world.slots.swaps == 0


def test_promotion_after_an_unfinished_step_is_refused_naming_it(world: FakeWorld, journal: Journal) -> None:
    world.metrics = DuringBake(then=lambda: os.kill(os.getpid(), signal.SIGINT))
    engine = engine_for(world, journal)
    with signals.interruptible(), pytest.raises(Interrupted):
        engine.release(10, "2.0.0")
    with pytest.raises(Refused, match=r"the 10% step's gate never passed"):
        engine.release(100)
    assert world.slots.swaps == 0
    with pytest.raises(BadInput, match="--force needs --reason"):
        engine.release(100, force=True)
    result = engine.release(100, force=True, reason="hotfix, watched by hand")
    assert result.release is not None and result.release.outcome is Outcome.PROMOTED
    (forced,) = [e for e in journal.events(result.release.id) if e.action == Note.FORCED]
    assert forced.detail == {"reason": "hotfix, watched by hand", "percent": 10}


def test_promotion_straight_from_idle_is_refused(world: FakeWorld, journal: Journal) -> None:
    with pytest.raises(Refused, match="no canary step has run"):
        engine_for(world, journal).release(100, "2.0.0")
    assert world.slots.deploys == [] and journal.releases() == []


def test_promotion_after_a_failed_gate_held_is_refused(world: FakeWorld, journal: Journal) -> None:
    world.metrics.samples[Pool.CANARY] = PoolSample(requests=1000, errors=300, p95_seconds=0.05)
    engine = engine_for(world, journal)
    with pytest.raises(Exception, match="Holding as asked"):
        engine.release(10, "2.0.0", hold=True)
    with pytest.raises(Refused, match=r"the 10% step's gate ended fail"):
        engine.release(100)


def test_no_evidence_holds_the_release_and_never_moves_on(world: FakeWorld, journal: Journal) -> None:
    world.metrics.samples = {pool: PoolSample(requests=0, errors=0, p95_seconds=None) for pool in Pool}
    with pytest.raises(Held) as raised:
        engine_for(world, journal).auto("2.0.0")
    assert raised.value.exit_code == EXIT_HELD
    assert world.router.writes == [Weights(0.9, 0.1)] and world.slots.swaps == 0
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.hold is HoldReason.GATE_INCONCLUSIVE
    assert record.describe_state() == "held at 10% (gate inconclusive)"


def test_a_held_release_that_never_took_traffic_is_aborted_for_a_newer_version(
    world: FakeWorld, journal: Journal
) -> None:
    world.slots.staging.healthy = False
    engine = engine_for(world, journal)
    with pytest.raises(Exception, match="held at 0%"):
        engine.release(10, "2.0.0")
    world.slots.staging.healthy = True
    engine.release(10, "2.0.1")
    first, second = journal.releases()
    assert (first.version, first.outcome, second.version) == ("2.0.0", Outcome.ABORTED, "2.0.1")
    assert world.slots.staging.version == "2.0.1"


def test_a_release_at_10_percent_still_blocks_another_version(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")
    with pytest.raises(Refused, match=r"is in flight at 10%; finish it or `invoke rollback`"):
        engine.release(10, "3.0.0")


def test_a_team_store_that_stops_answering_is_given_up_on_when_the_operator_insists(
    world: FakeWorld, postgres_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The team's PostgreSQL stops answering in the middle of a bake (its disk stuck, the VPN
    down), and the operator presses Ctrl-C, again and again. The release waits for the store (a
    journal write is never cut in its middle) and says so; the next Ctrl-C gives up on the store
    at once: the interruption says where traffic is, that nothing could be journaled, and that the
    lock ends with its lease. Before, every press went unanswered for as long as the store did."""
    journal = Journal(upgraded(postgres_url), operator="alice")
    stopped: list[AbstractContextManager[None]] = []
    done = threading.Event()

    def operator_presses_ctrl_c() -> None:
        for _ in range(10):  # each press a little after the last one's notice could have come
            if done.wait(signals.NOTICE_AFTER_SECONDS + 0.5):
                return
            os.kill(os.getpid(), signal.SIGINT)

    def store_stops_answering() -> None:
        stopped.append(not_answering(backends(postgres_url)))
        stopped[0].__enter__()
        threading.Thread(target=operator_presses_ctrl_c).start()

    world.metrics = DuringBake(then=store_stops_answering)
    try:
        with signals.interruptible(), pytest.raises(Interrupted) as raised:
            engine_for(world, journal).release(10, "2.0.0")
    finally:
        done.set()
        for block in stopped:
            block.__exit__(None, None, None)
    message = str(raised.value)
    assert raised.value.exit_code == 130 and "interrupted by SIGINT during bake" in message
    assert "Not journaled: the journal" in message and "the operator gave up waiting for it" in message
    assert "The lock was not released" in message and "it ends with its lease, within" in message
    assert "Traffic: stable=0.9 canary=0.1 (10% on the canary, 2.0.0)." in message
    told = capfd.readouterr().err
    assert "SIGINT: waiting for the state store to answer first" in told
    assert "SIGINT again: giving up on the state store." in told
    holder = current_holder(Journal(postgres_url, operator="bob"), "sandbox", "web")
    assert holder is not None and holder.owner == "alice"  # until its lease ends
