"""Operator controls against the engine with fakes: pause and resume (the bake clock stops and
goes on), promote (ends the bake, figures journaled), promote --full (skips the steps left), an
approval step (held until promote), the bake override, and controls refused when nothing runs.

Controls come from a second journal on the same store (another operator's shell), journaled at
chosen moments of the engine's fake clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from releases import controls
from releases.controls import Control
from releases.engine import Engine
from releases.errors import GateFailed, Held, Refused
from releases.journal import EventKind, Journal, Note
from releases.model import HoldReason, Outcome, Pool, PoolSample, Weights
from releases.plan import Step
from releases.release_log import ReleaseLog
from releases.settings import AnalysisGate, EnvironmentSettings, HealthGate
from releases.state.schema import events
from tests.releases.fakes import FakeClock, FakeWorld
from tests.state_stores import twin

SETTINGS = EnvironmentSettings(
    health=HealthGate(consecutive=1, interval_seconds=1, timeout_seconds=10),
    analysis=AnalysisGate(bake_seconds=60, interval_seconds=10, max_bake_seconds=600, max_idle_seconds=60),
    verify_seconds=20,
)


class ScriptedClock(FakeClock):
    """A fake clock that runs `script[t]` once, as soon as its time reaches t (in a sleep)."""

    def __init__(self, script: Mapping[int, Callable[[], None]]) -> None:
        super().__init__()
        self.script = dict(script)

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        for at in sorted(self.script):
            if at <= self.now:
                self.script.pop(at)()


@pytest.fixture
def alice(journal: Journal) -> Journal:
    """Another operator, in another shell, on the same store."""
    return Journal(twin(journal.store), operator="alice")


def engine_for(
    world: FakeWorld,
    journal: Journal,
    script: Mapping[int, Callable[[], None]] | None = None,
    settings: EnvironmentSettings = SETTINGS,
) -> Engine:
    clock = ScriptedClock(script or {})
    return Engine("sandbox", "web", world.targets, settings, journal, clock=clock, sleep=clock.sleep)


def control(
    journal: Journal, what: Control, reason: str | None = None, full: bool = False
) -> Callable[[], None]:
    def journal_it() -> None:
        controls.request(journal, "sandbox", "web", what, reason, full)

    return journal_it


def bake_gates(journal: Journal) -> list[dict[str, object]]:
    record = journal.latest_release("sandbox", "web")
    assert record is not None
    return [event.detail for event in ReleaseLog.read(journal, record).gates(Step.BAKE)]


def test_pause_stops_the_bake_clock_and_resume_continues_with_the_time_left(
    journal: Journal, alice: Journal
) -> None:
    seen: list[str] = []

    def look() -> None:
        record = journal.latest_release("sandbox", "web")
        seen.append(record.describe_state() if record else "none")

    script = {
        20: control(alice, Control.PAUSE, "checking a graph"),
        60: look,
        120: control(alice, Control.RESUME),
    }
    result = engine_for(FakeWorld(), journal, script).release(10, "2.0.0")

    # 20 s baked before the pause, 100 s paused, then the 40 s left: not 60 s again from zero.
    assert [(bake.verdict.value, bake.paused_seconds, bake.seconds) for bake in result.bakes] == [
        ("pass", 100, 160)
    ]
    assert seen == ["held at 10% (paused)"]
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.hold is None
    log = ReleaseLog.read(journal, record)
    assert [e.detail["hold"] for e in log.notes(Note.HELD)] == ["paused"]
    assert [e.detail["by"] for e in log.notes(Note.RESUMED)] == ["alice"]
    assert bake_gates(journal)[-1]["paused_seconds"] == 100


def test_a_failure_while_paused_still_rolls_back(journal: Journal, alice: Journal) -> None:
    world = FakeWorld()

    def break_canary() -> None:
        world.metrics.samples[Pool.CANARY] = PoolSample(requests=1000, errors=300, p95_seconds=0.05)

    script = {20: control(alice, Control.PAUSE), 30: break_canary}
    with pytest.raises(GateFailed, match="gate failed at 10%"):
        engine_for(world, journal, script).release(10, "2.0.0")
    assert world.router.weights == Weights.all_stable()


def test_promote_ends_the_bake_with_its_figures_and_the_walk_goes_on(
    journal: Journal, alice: Journal
) -> None:
    world = FakeWorld()
    results = engine_for(world, journal, {20: control(alice, Control.PROMOTE, "looks fine")}).auto("2.0.0")

    ten, fifty = bake_gates(journal)[:2]
    assert ten["percent"] == 10 and ten["ended_by"] == "promote by alice (looks fine)"
    assert ten["verdict"] == "inconclusive" and isinstance(ten["requests"], float) and ten["requests"] > 0
    assert fifty["percent"] == 50 and fifty["verdict"] == "pass" and fifty["ended_by"] is None
    assert Weights.canary_percent(50) in world.router.writes
    assert results[-1].release is not None and results[-1].release.outcome is Outcome.PROMOTED


@pytest.mark.parametrize("command", ["auto", "one step"])
def test_promote_full_skips_the_remaining_steps(journal: Journal, alice: Journal, command: str) -> None:
    world = FakeWorld()
    engine = engine_for(world, journal, {20: control(alice, Control.PROMOTE, "hotfix", full=True)})
    result = engine.auto("2.0.0")[-1] if command == "auto" else engine.release(10, "2.0.0")

    assert world.router.writes == [Weights.canary_percent(10), Weights.all_stable()]
    assert world.slots.swaps == 1 and world.slots.production.version == "2.0.0"
    assert result.release is not None and result.release.outcome is Outcome.PROMOTED
    record = result.release
    skipped = ReleaseLog.read(journal, record).notes(Note.STEPS_SKIPPED)
    assert [(e.detail["skipped"], e.detail["by"], e.detail["reason"]) for e in skipped] == [
        ([50], "alice", "hotfix")
    ]


def test_an_approval_step_holds_until_promote(journal: Journal, alice: Journal) -> None:
    world = FakeWorld()
    settings = SETTINGS.model_copy(update={"steps": (10, "approve", 50, 100)})
    seen: list[tuple[str, Weights]] = []
    refusals: list[str] = []

    def look_and_try_resume() -> None:
        record = journal.latest_release("sandbox", "web")
        assert record is not None
        seen.append((record.describe_state(), world.router.weights))
        for what in (Control.RESUME, Control.PAUSE):
            with pytest.raises(Refused) as refused:
                controls.request(alice, "sandbox", "web", what)
            refusals.append(str(refused.value))

    # The 10% bake passes at 60 s; nothing moves until alice promotes at 500 s.
    script = {300: look_and_try_resume, 500: control(alice, Control.PROMOTE, "approved in chat")}
    results = engine_for(world, journal, script, settings).auto("2.0.0")

    assert seen == [("held at 10% (waiting for approval)", Weights.canary_percent(10))]
    assert len(refusals) == 2 and all("`invoke promote` approves it" in refusal for refusal in refusals)
    assert world.router.writes == [
        Weights.canary_percent(10),
        Weights.canary_percent(50),
        Weights.all_stable(),
    ]
    record = results[-1].release
    assert record is not None and record.outcome is Outcome.PROMOTED
    approvals = ReleaseLog.read(journal, record).outcomes(Step.APPROVE)
    assert [(e.detail["approved_by"], e.detail["reason"]) for e in approvals] == [
        ("alice", "approved in chat")
    ]


def test_a_dry_run_shows_the_approval_in_the_walk(journal: Journal) -> None:
    settings = SETTINGS.model_copy(update={"steps": (10, 50, "approve", 100)})
    results = engine_for(FakeWorld(), journal, settings=settings).auto("2.0.0", dry_run=True)
    steps = [
        [action.step for action in result.actions if action.step in (Step.BAKE, Step.APPROVE)]
        for result in results
    ]
    assert steps == [[Step.BAKE], [Step.BAKE, Step.APPROVE], []]


def test_a_control_journaled_before_the_command_is_not_applied(journal: Journal, alice: Journal) -> None:
    """An old request (meant for an earlier run) never pauses a later one."""
    alice.record("sandbox", "web", EventKind.NOTE, Note.PAUSE_REQUESTED, None, reason=None, full=False)
    result = engine_for(FakeWorld(), journal).release(10, "2.0.0")
    assert [bake.paused_seconds for bake in result.bakes] == [0]


def test_the_bake_override_applies_to_the_canary_steps_of_one_run(journal: Journal) -> None:
    world = FakeWorld()
    result = engine_for(world, journal, settings=SETTINGS.with_bake(120)).release(10, "2.0.0")
    assert [action.description for action in result.actions if action.step is Step.BAKE] == [
        "bake 120 s at 10%"
    ]
    assert [bake.seconds for bake in result.bakes] == [120]
    assert bake_gates(journal)[-1]["bake_seconds"] == 120
    assert SETTINGS.bake_seconds == 60


def test_controls_are_refused_when_no_release_is_in_flight(journal: Journal) -> None:
    for what in Control:
        with pytest.raises(Refused, match=f"nothing to {what.value}: no release of web is in flight"):
            controls.request(journal, "sandbox", "web", what)


def test_controls_on_a_held_release_no_command_runs_say_what_continues_it(journal: Journal) -> None:
    world = FakeWorld()
    world.metrics.samples[Pool.CANARY] = PoolSample(requests=0, errors=0, p95_seconds=None)
    with pytest.raises(Held):
        engine_for(world, journal).release(10, "2.0.0")
    with pytest.raises(Refused, match=r"no command is running .* `invoke release --auto` walks"):
        controls.request(journal, "sandbox", "web", Control.RESUME)
    with pytest.raises(Refused, match=r"no command is running .* `invoke release --percent 100` promotes"):
        controls.request(journal, "sandbox", "web", Control.PROMOTE)
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.hold is HoldReason.GATE_INCONCLUSIVE


def test_promote_full_at_the_last_approval_just_promotes(journal: Journal, alice: Journal) -> None:
    """With only the promotion left there is nothing to skip: no empty `steps-skipped` note."""
    settings = SETTINGS.model_copy(update={"steps": (10, 50, "approve", 100)})
    script = {400: control(alice, Control.PROMOTE, "go", full=True)}
    results = engine_for(FakeWorld(), journal, script, settings).auto("2.0.0")
    record = results[-1].release
    assert record is not None and record.outcome is Outcome.PROMOTED
    assert ReleaseLog.read(journal, record).notes(Note.STEPS_SKIPPED) == []
    assert [e.detail["approved_by"] for e in ReleaseLog.read(journal, record).outcomes(Step.APPROVE)] == [
        "alice"
    ]


def test_a_promote_that_arrives_after_its_step_ended_does_not_end_the_next(
    journal: Journal, alice: Journal
) -> None:
    """Asked during the 10% bake's last look, read at the 50% bake's first: without the step it
    was asked at, it ended the 50% step unjudged."""
    world = FakeWorld()

    def late_promote() -> None:
        record = journal.latest_release("sandbox", "web")
        assert record is not None and record.last_percent == 50
        alice.record("sandbox", "web", EventKind.NOTE, Note.PROMOTE_REQUESTED, record.id, percent=10)

    results = engine_for(world, journal, {85: late_promote}).auto("2.0.0")

    ten, fifty = bake_gates(journal)[:2]
    assert ten["ended_by"] is None and fifty["ended_by"] is None and fifty["verdict"] == "pass"
    record = results[-1].release
    assert record is not None and record.outcome is Outcome.PROMOTED
    (stale,) = ReleaseLog.read(journal, record).notes(Note.PROMOTE_STALE)
    assert (stale.detail["asked_at"], stale.detail["now_at"], stale.detail["by"]) == (10, 50, "alice")


def test_a_request_committed_after_a_later_numbered_one_is_still_handed_out(journal: Journal) -> None:
    """On PostgreSQL a sequence number is taken before the commit: a request can become visible
    after one numbered above it. A cursor past the newest lost it."""
    inbox = controls.ControlInbox(journal, "sandbox", "web", journal.last_seq())
    journal.record("sandbox", "web", EventKind.NOTE, Note.PAUSE_REQUESTED, None)
    journal.record("sandbox", "web", EventKind.NOTE, Note.RESUME_REQUESTED, None)
    second = journal.last_seq()
    with journal.store.write() as connection:  # the first one's row, committed last
        connection.execute(events.delete().where(events.c.seq == second - 1))
    assert [r.control for r in inbox.poll()] == [Control.RESUME]
    with journal.store.write() as connection:
        connection.execute(
            events.insert().values(
                seq=second - 1,
                at=0.0,
                environment="sandbox",
                service="web",
                release_id=None,
                operator="bob",
                kind="note",
                action=Note.PAUSE_REQUESTED,
                detail="{}",
                token=None,
            )
        )
    assert [(r.control, r.operator) for r in inbox.poll()] == [(Control.PAUSE, "bob")]
    assert inbox.poll() == []
