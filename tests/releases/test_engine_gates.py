"""The engine's reaction to each verdict: it never moves on unless the gate says PASS. An
inconclusive bake holds the release (exit 5): traffic unchanged, figures journaled, announced."""

from __future__ import annotations

import pytest

from releases.engine import Engine
from releases.errors import EXIT_HELD, Held
from releases.journal import Journal
from releases.model import Pool, PoolSample, Weights
from releases.settings import AnalysisGate, EnvironmentSettings, HealthGate
from tests.releases.fakes import FakeClock, FakeWorld
from tests.releases.test_notify import Recorder

SETTINGS = EnvironmentSettings(
    health=HealthGate(consecutive=2, interval_seconds=1, timeout_seconds=10),
    analysis=AnalysisGate(bake_seconds=30, interval_seconds=10, max_bake_seconds=300, max_idle_seconds=60),
    verify_seconds=20,
)
NO_TRAFFIC = PoolSample(requests=0, errors=0, p95_seconds=None)


def engine_for(world: FakeWorld, journal: Journal, notices: Recorder | None = None) -> Engine:
    clock = FakeClock()
    return Engine(
        "sandbox", "web", world.targets, SETTINGS, journal, clock=clock, sleep=clock.sleep, notifier=notices
    )


def test_no_traffic_holds_the_step_instead_of_moving_on(journal: Journal) -> None:
    """Every bake without load was inconclusive, and `release --auto` ended "promoted", exit 0."""
    world = FakeWorld()
    world.metrics.samples[Pool.CANARY] = NO_TRAFFIC
    notices = Recorder()
    with pytest.raises(Held, match=r"gate inconclusive at 10%.*no request reached the canary pool") as held:
        engine_for(world, journal, notices).auto("2.0.0")
    assert held.value.exit_code == EXIT_HELD == 5
    message = str(held.value)
    assert "traffic is unchanged (stable=0.9 canary=0.1)" in message
    assert "`invoke release --percent 10`" in message and "`invoke rollback`" in message
    assert world.router.writes == [Weights(0.9, 0.1)]  # the step's write, nothing after it
    assert world.slots.swaps == 0
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.in_flight
    events = journal.events(record.id)
    gate = [e for e in events if e.kind == "gate" and e.action == "bake"]
    assert gate[-1].detail["verdict"] == "inconclusive" and gate[-1].detail["reasons"]
    assert [e.action for e in events if e.kind == "note"][-1] == "held"
    assert any(notice.state == "held at 10%: gate inconclusive" for notice in notices.notices)


def test_thin_traffic_holds_with_what_a_pass_needs(journal: Journal) -> None:
    world = FakeWorld()
    world.metrics.samples[Pool.CANARY] = PoolSample(requests=0.2, errors=0, p95_seconds=0.05)
    with pytest.raises(Held, match=r"too little traffic to judge.*a pass needs about [\d,]+ more requests"):
        engine_for(world, journal).release(10, "2.0.0")
    assert world.router.weights == Weights(0.9, 0.1)


def test_an_unreachable_metric_source_holds_rather_than_rolls_back_or_passes(journal: Journal) -> None:
    world = FakeWorld()
    world.metrics.unavailable = "Prometheus at http://127.0.0.1:9: connection refused"
    with pytest.raises(Held, match="the metric source did not answer"):
        engine_for(world, journal).release(10, "2.0.0")
    assert world.router.writes == [Weights(0.9, 0.1)]


def test_a_held_step_baked_again_with_traffic_moves_on(journal: Journal) -> None:
    world = FakeWorld()
    world.metrics.samples[Pool.CANARY] = NO_TRAFFIC
    engine = engine_for(world, journal)
    with pytest.raises(Held):
        engine.release(10, "2.0.0")
    world.metrics.samples[Pool.CANARY] = PoolSample(requests=1000, errors=0, p95_seconds=0.05)
    results = engine.auto(None)
    assert results[-1].release is not None and results[-1].release.outcome is not None
    assert world.router.writes == [Weights(0.9, 0.1), Weights(0.5, 0.5), Weights.all_stable()]


def test_an_inconclusive_verify_after_promotion_holds_without_swapping_back(journal: Journal) -> None:
    world = FakeWorld()
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    world.metrics.samples[Pool.STABLE] = NO_TRAFFIC  # the new production gets no traffic to judge
    with pytest.raises(Held, match=r"gate inconclusive after promotion.*`invoke release --percent 100`"):
        engine.release(100)
    assert world.slots.swaps == 1 and world.slots.production.version == "2.0.0"
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.in_flight  # not promoted until its verify passes
