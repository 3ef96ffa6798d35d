"""The engine against in-memory fakes: plans, writes, gates, rollbacks, locks and resumption."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from releases.engine import Engine, Step
from releases.errors import BadInput, GateFailed, Refused, TargetUnavailable
from releases.journal import Journal, Note
from releases.lock import ReleaseLock
from releases.model import Outcome, Pool, PoolSample, Weights
from releases.process_identity import ProcessIdentity, boot_id, identity_of
from releases.settings import AnalysisGate, EnvironmentSettings, HealthGate
from tests.releases.fakes import FakeClock, FakeWorld
from tests.state_stores import twin

SETTINGS = EnvironmentSettings(
    health=HealthGate(consecutive=3, interval_seconds=1, timeout_seconds=10),
    analysis=AnalysisGate(bake_seconds=30, interval_seconds=10, min_requests=100),
    verify_seconds=20,
)
BAD = PoolSample(requests=1000, errors=200, p95_seconds=0.05)


def engine_for(world: FakeWorld, journal: Journal, settings: EnvironmentSettings = SETTINGS) -> Engine:
    clock = FakeClock()
    return Engine("sandbox", "web", world.targets, settings, journal, clock=clock, sleep=clock.sleep)


def test_first_step_without_a_version_is_bad_input(world: FakeWorld, journal: Journal) -> None:
    with pytest.raises(BadInput, match="first step needs --version"):
        engine_for(world, journal).release(10)
    assert world.router.writes == [] and world.slots.deploys == []


@pytest.mark.parametrize("percent", [0, 101, -5])
def test_percent_out_of_range_is_bad_input(world: FakeWorld, journal: Journal, percent: int) -> None:
    with pytest.raises(BadInput, match="from 1 to 100"):
        engine_for(world, journal).release(percent, "2.0.0")
    assert world.router.writes == []


def test_first_step_deploys_then_writes_the_weights_once(world: FakeWorld, journal: Journal) -> None:
    result = engine_for(world, journal).release(10, "2.0.0")
    assert world.slots.deploys == ["2.0.0"]
    assert world.router.writes == [Weights(stable=0.9, canary=0.1)]
    assert result.release is not None and result.release.in_flight
    assert result.release.previous_version == "1.0.0"


def test_repeating_a_step_writes_nothing(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")
    engine.release(10)
    assert world.router.writes == [Weights(stable=0.9, canary=0.1)]
    assert world.slots.deploys == ["2.0.0"]


def test_dry_run_plans_and_changes_nothing(world: FakeWorld, journal: Journal) -> None:
    result = engine_for(world, journal).release(10, "2.0.0", dry_run=True)
    assert [action.step for action in result.actions] == [
        Step.PREFLIGHT,
        Step.DEPLOY,
        Step.HEALTH,
        Step.WEIGHTS,
        Step.BAKE,
    ]
    assert world.router.writes == [] and world.slots.deploys == []
    assert journal.latest_release("sandbox", "web") is None


def test_promotion_swaps_then_returns_all_traffic_to_stable(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    result = engine.release(100)
    assert world.slots.swaps == 1
    assert world.slots.production.version == "2.0.0" and world.slots.staging.version == "1.0.0"
    assert world.router.weights == Weights.all_stable()
    assert result.release is not None and result.release.outcome is Outcome.PROMOTED


def test_a_failed_preflight_changes_nothing(world: FakeWorld, journal: Journal) -> None:
    world.slots.preflight_refusal = "slot-sticky settings differ between production and staging: FEATURE_X"
    with pytest.raises(Refused, match="FEATURE_X"):
        engine_for(world, journal).release(10, "2.0.0")
    assert world.slots.deploys == [] and world.router.writes == [] and world.slots.swaps == 0


def test_every_step_runs_the_preflight_first(world: FakeWorld, journal: Journal) -> None:
    engine_for(world, journal).auto("2.0.0")
    assert world.slots.preflights == 3  # 10%, 50% and the promotion (which swaps)


def test_a_router_that_refuses_the_reset_after_the_swap_gets_the_swap_undone(
    world: FakeWorld, journal: Journal
) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    world.router.unavailable_for = Weights.all_stable()
    with pytest.raises(TargetUnavailable, match=r"swap was undone: production serves 1\.0\.0 again"):
        engine.release(100)
    assert world.slots.swaps == 2
    assert world.slots.production.version == "1.0.0" and world.slots.staging.version == "2.0.0"
    assert world.router.weights == Weights(0.5, 0.5)  # as before the promotion
    world.router.unavailable_for = None
    result = engine.release(100)  # once the router answers again, the promotion goes through
    assert result.release is not None and result.release.outcome is Outcome.PROMOTED
    assert world.slots.production.version == "2.0.0" and world.router.weights == Weights.all_stable()


def test_promoting_again_is_a_no_op(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.auto("2.0.0")
    writes = len(world.router.writes)
    result = engine.release(100)
    assert result.message == "2.0.0 is already promoted"
    assert world.slots.swaps == 1 and len(world.router.writes) == writes


def test_auto_walks_every_step(world: FakeWorld, journal: Journal) -> None:
    results = engine_for(world, journal).auto("2.0.0")
    assert len(results) == 3
    assert world.router.writes == [Weights(0.9, 0.1), Weights(0.5, 0.5), Weights.all_stable()]
    assert results[-1].release is not None and results[-1].release.outcome is Outcome.PROMOTED


def test_failed_canary_gate_rolls_back_with_one_write(world: FakeWorld, journal: Journal) -> None:
    world.metrics.samples[Pool.CANARY] = BAD
    with pytest.raises(GateFailed, match=r"error rate 20\.00% is over 1\.00%"):
        engine_for(world, journal).release(10, "2.0.0")
    assert world.router.writes == [Weights(0.9, 0.1), Weights.all_stable()]
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.outcome is Outcome.ROLLED_BACK


def test_hold_keeps_traffic_when_a_gate_fails(world: FakeWorld, journal: Journal) -> None:
    world.metrics.samples[Pool.CANARY] = BAD
    with pytest.raises(GateFailed, match="Holding as asked"):
        engine_for(world, journal).release(10, "2.0.0", hold=True)
    assert world.router.weights == Weights(0.9, 0.1)
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.in_flight


def test_failed_verification_after_promotion_swaps_back(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    world.metrics.samples[Pool.STABLE] = BAD  # the new production misbehaves
    with pytest.raises(GateFailed, match="after promotion"):
        engine.release(100)
    assert world.slots.swaps == 2
    assert world.slots.production.version == "1.0.0"


def test_a_health_failure_after_traffic_moved_is_a_failed_gate(world: FakeWorld, journal: Journal) -> None:
    """Not "no traffic was moved": 10% of users reach the unhealthy canary, so it is rolled back."""
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")
    world.slots.staging.healthy = False
    with pytest.raises(GateFailed, match=r"gate failed at 10%: staging health: .*did not report healthy"):
        engine.release(50)
    assert world.slots.swaps == 0
    assert world.router.weights == Weights.all_stable()
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.outcome is Outcome.ROLLED_BACK


def test_rollback_with_nothing_in_flight_is_refused(world: FakeWorld, journal: Journal) -> None:
    with pytest.raises(Refused, match="nothing to roll back"):
        engine_for(world, journal).rollback()


def test_rollback_after_promotion_swaps_back(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.auto("2.0.0")
    result = engine.rollback()
    assert [action.step for action in result.actions] == [Step.SWAP_BACK]
    assert world.slots.production.version == "1.0.0"
    assert result.release is not None and result.release.outcome is Outcome.ROLLED_BACK
    with pytest.raises(Refused, match="nothing to roll back"):
        engine.rollback()


def test_a_rollback_the_router_refuses_changes_nothing_and_the_same_command_finishes_it(
    world: FakeWorld, journal: Journal
) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")
    world.router.unavailable_for = Weights.all_stable()  # the router dies as the rollback starts
    with pytest.raises(TargetUnavailable, match="router"):
        engine.rollback()
    assert world.router.weights == Weights(0.9, 0.1)
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.in_flight  # not claimed rolled back
    world.router.unavailable_for = None  # the router is back
    result = engine.rollback()
    assert result.release is not None and result.release.outcome is Outcome.ROLLED_BACK
    assert world.router.weights == Weights.all_stable()


def test_a_rollback_cut_at_its_swap_back_is_finished_by_the_same_command(
    world: FakeWorld, journal: Journal
) -> None:
    engine = engine_for(world, journal)
    engine.auto("2.0.0")
    world.slots.swap_unavailable = True
    with pytest.raises(TargetUnavailable, match="unreachable"):
        engine.rollback()
    assert world.slots.production.version == "2.0.0"
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.outcome is Outcome.PROMOTED  # not claimed rolled back
    world.slots.swap_unavailable = False
    result = engine.rollback()
    assert [action.step for action in result.actions] == [Step.SWAP_BACK]
    assert world.slots.production.version == "1.0.0" and world.router.weights == Weights.all_stable()
    assert result.release is not None and result.release.outcome is Outcome.ROLLED_BACK


def test_a_second_version_while_one_is_in_flight_is_refused(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")
    with pytest.raises(Refused, match=r"release of 2\.0\.0 .* is in flight"):
        engine.release(10, "3.0.0")
    assert world.slots.deploys == ["2.0.0"]


def test_resumes_after_a_crash_between_swap_and_weights(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    world.slots.swap()  # the crash: swapped, weights still at 50%
    engine.release(100)
    assert world.slots.production.version == "2.0.0"
    assert world.router.weights == Weights.all_stable()
    assert world.slots.swaps == 1  # the rerun did not swap again


def test_auto_resumes_from_the_current_step(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    engine.auto(None)
    # Not back to 10%: 50% baked again, then the promotion's return to stable.
    assert world.router.writes == [Weights(0.5, 0.5), Weights.all_stable()]


def test_a_held_lock_is_refused_naming_its_holder(world: FakeWorld, journal: Journal, tmp_path: Path) -> None:
    other = Journal(twin(journal.store), operator="alice")
    holder = ReleaseLock(other, "sandbox", "web", lease_seconds=60)
    parent = identity_of(os.getppid())  # a live process that is not us
    assert parent is not None
    holder.process = parent
    holder.acquire()
    with pytest.raises(Refused, match=r"lock held by alice on .* \(pid \d+, token 1\)"):
        engine_for(world, journal).release(10, "2.0.0")
    assert world.router.writes == []


def test_a_lock_whose_holder_died_is_taken_over(world: FakeWorld, journal: Journal) -> None:
    other = Journal(twin(journal.store), operator="crashed")
    holder = ReleaseLock(other, "sandbox", "web", lease_seconds=600)
    holder.process = ProcessIdentity(2**22 + 12345, boot_id(), 1.0)  # no such process
    holder.acquire()
    engine_for(world, journal).release(10, "2.0.0")
    assert world.router.weights == Weights(0.9, 0.1)
    notes = [event for event in journal.events() if event.action == Note.LOCK_TAKEN_OVER]
    assert len(notes) == 1 and notes[0].detail["live"] is False


def test_a_dry_run_of_auto_shows_the_whole_walk(world: FakeWorld, journal: Journal) -> None:
    results = engine_for(world, journal).auto("2.0.0", dry_run=True)
    assert [[a.step for a in r.actions] for r in results] == [
        [Step.PREFLIGHT, Step.DEPLOY, Step.HEALTH, Step.WEIGHTS, Step.BAKE],
        [Step.HEALTH, Step.WEIGHTS, Step.BAKE],
        [Step.HEALTH, Step.PROMOTE, Step.VERIFY],
    ]
    assert world.router.writes == [] and world.slots.deploys == [] and journal.releases() == []


def test_a_dry_run_reports_the_refusals_of_the_real_command(
    world: FakeWorld, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(world, journal)
    with pytest.raises(Refused, match="no canary step has run"):
        engine.release(100, "2.0.0", dry_run=True)
    del world.secrets.values["DATABASE_URL"]
    settings = SETTINGS.model_copy(update={"required_secrets": {"web": ("DATABASE_URL",)}})
    with pytest.raises(Refused, match="DATABASE_URL"):
        engine_for(world, journal, settings).release(10, "2.0.0", dry_run=True)
    holder = ReleaseLock(Journal(twin(journal.store), operator="bob"), "sandbox", "web", 60)
    parent = identity_of(os.getppid())
    assert parent is not None
    holder.process = parent
    holder.acquire()
    with pytest.raises(Refused, match=r"lock held by bob .*the real command would be refused"):
        engine.release(10, "2.0.0", dry_run=True)
    assert world.router.writes == [] and world.slots.deploys == []
