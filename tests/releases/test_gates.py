"""Verdicts from evidence: sequential tests on counts, the p95 from a histogram, canary against
stable, and bakes that extend while data is thin and never pass on missing or stale data."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from releases.gates import (
    BakeResult,
    Progress,
    Verdict,
    analyse,
    bake,
    compare_errors,
    compare_latency,
    judge_latency,
    judge_rate,
    spent_alpha,
    wait_until_serving,
)
from releases.model import Pool, PoolSample, SlotHealth
from releases.settings import AnalysisGate, HealthGate
from releases.targets.metrics.protocol import NO_EVIDENCE, MetricSource, MetricsUnavailableError, PoolEvidence
from tests.releases.fakes import FakeClock, FakeMetrics, FakeWorld

GATE = AnalysisGate(bake_seconds=60, interval_seconds=5, max_bake_seconds=600, max_idle_seconds=60)
INF = math.inf


def clean(requests: float, slow: float = 0.0, limit: float = 0.5) -> PoolEvidence:
    """`requests` without error, `slow` of them over `limit` seconds."""
    return PoolEvidence(requests, 0.0, ((0.1, requests - slow), (limit, requests - slow), (INF, requests)))


# -- the sequential tests --------------------------------------------------------------------------


def test_a_clear_failure_on_few_requests_fails() -> None:
    """43% of 32 requests was "inconclusive" under min_requests, and the release moved on."""
    test = judge_rate("error rate", 14, 32, 0.01, GATE)
    assert test.verdict is Verdict.FAIL


def test_no_requests_is_inconclusive_and_says_how_many_a_pass_needs() -> None:
    test = judge_rate("error rate", 0, 0, 0.01, GATE)
    assert test.verdict is Verdict.INCONCLUSIVE
    # The rule of three: about 300 error-free requests show a rate under 1% at 95%; a mixture
    # over several alternatives costs a little more.
    assert test.more_needed is not None and 300 <= test.more_needed <= 600


def test_error_free_traffic_passes_once_there_is_enough_of_it() -> None:
    needed = judge_rate("error rate", 0, 0, 0.01, GATE).more_needed
    assert needed is not None
    assert judge_rate("error rate", 0, needed - 20, 0.01, GATE).verdict is Verdict.INCONCLUSIVE
    assert judge_rate("error rate", 0, needed, 0.01, GATE).verdict is Verdict.PASS


def test_a_rate_at_the_limit_never_passes_and_far_over_it_fails() -> None:
    assert judge_rate("error rate", 100, 10_000, 0.01, GATE).verdict is Verdict.INCONCLUSIVE
    assert judge_rate("error rate", 200, 10_000, 0.01, GATE).verdict is Verdict.FAIL


def test_half_the_limit_passes_on_enough_evidence() -> None:
    assert judge_rate("error rate", 25, 5_000, 0.01, GATE).verdict is Verdict.PASS


@pytest.mark.parametrize(("true_rate", "never"), [(0.005, Verdict.FAIL), (0.02, Verdict.PASS)])
def test_looking_every_second_does_not_inflate_the_errors(true_rate: float, never: Verdict) -> None:
    """A point estimate re-judged every second rolled back a true 0.5% (limit 1%) 3 times of 3.
    The sequential test, looked at after every one of 5,000 requests in each of 100 seeded runs,
    never fails a 0.5% version nor passes a 2% one (each is bounded by 0.1% and 5% per run)."""
    generator = random.Random(17)
    outcomes = []
    for _ in range(100):
        errors = 0
        verdict = Verdict.INCONCLUSIVE
        for requests in range(1, 5_001):
            errors += generator.random() < true_rate
            verdict = judge_rate("error rate", errors, requests, 0.01, GATE).verdict
            if verdict is not Verdict.INCONCLUSIVE:
                break
        outcomes.append(verdict)
    assert never not in outcomes
    assert outcomes.count(Verdict.INCONCLUSIVE) < len(outcomes)  # and the tests do decide


def test_p95_under_the_limit_passes_and_over_it_fails() -> None:
    assert (judged := judge_latency(clean(2_000, slow=20), GATE)) and judged.verdict is Verdict.PASS
    assert (judged := judge_latency(clean(2_000, slow=600), GATE)) and judged.verdict is Verdict.FAIL
    assert judge_latency(PoolEvidence(2_000, 0), GATE) is None  # no histogram: nothing to show


def test_a_limit_between_bounds_is_judged_conservatively_each_way() -> None:
    """Limit 500 ms on bounds 300 ms and 1 s: PASS counts everything over 300 ms as slow, FAIL
    only what is over 1 s."""
    gate = AnalysisGate(max_p95_seconds=0.5)
    # 20% between 300 ms and 1 s: the p95 may be anywhere in there; neither verdict is shown.
    between = PoolEvidence(5_000, 0, ((0.3, 4_000), (1.0, 5_000), (INF, 5_000)))
    judged = judge_latency(between, gate)
    assert judged is not None and judged.verdict is Verdict.INCONCLUSIVE
    over = PoolEvidence(5_000, 0, ((0.3, 4_000), (1.0, 4_000), (INF, 5_000)))
    judged = judge_latency(over, gate)
    assert judged is not None and judged.verdict is Verdict.FAIL


# -- canary against stable -------------------------------------------------------------------------


def test_canary_clearly_worse_than_stable_fails_under_the_absolute_threshold() -> None:
    # 0.9% is under the 1% threshold, but far above stable's 0.01% on these counts.
    canary = PoolEvidence(20_000, 180)
    stable = PoolEvidence(80_000, 8)
    comparison = compare_errors(canary, stable, 0.005, GATE.error_margin)
    assert comparison.failed


def test_canary_a_little_worse_than_stable_within_the_margin_does_not_fail() -> None:
    canary = PoolEvidence(20_000, 100)  # 0.5% against stable's 0.1%: within the 0.5-point margin
    stable = PoolEvidence(80_000, 80)
    assert not compare_errors(canary, stable, 0.005, GATE.error_margin).failed


def test_canary_much_slower_than_stable_fails_and_a_similar_one_does_not() -> None:
    bounds = (0.05, 0.1, 0.2, 0.3, 0.5, INF)

    def histogram(per_bucket: tuple[float, ...]) -> PoolEvidence:
        cumulative = tuple((bound, sum(per_bucket[: i + 1])) for i, bound in enumerate(bounds))
        return PoolEvidence(sum(per_bucket), 0, cumulative)

    stable = histogram((800, 150, 40, 10, 0, 0))
    slower = histogram((100, 200, 500, 190, 10, 0))
    alike = histogram((790, 160, 40, 10, 0, 0))
    failing = compare_latency(slower, stable, 0.005, GATE.comparison_latency_effect)
    assert failing is not None and failing.failed
    similar = compare_latency(alike, stable, 0.005, GATE.comparison_latency_effect)
    assert similar is not None and not similar.failed


def test_comparison_alpha_is_spent_so_all_looks_together_stay_within_it() -> None:
    assert sum(spent_alpha(0.01, look) for look in range(1, 100_000)) < 0.01


# -- analyses ------------------------------------------------------------------------------------


def test_a_pass_needs_the_minimum_bake_as_well_as_the_evidence() -> None:
    evidence = clean(5_000)
    assert analyse(evidence, None, GATE, seconds=30, min_seconds=60).verdict is Verdict.INCONCLUSIVE
    assert analyse(evidence, None, GATE, seconds=60, min_seconds=60).verdict is Verdict.PASS


def test_a_source_without_latency_histogram_never_passes() -> None:
    analysis = analyse(PoolEvidence(50_000, 0), None, GATE, seconds=600, min_seconds=60)
    assert analysis.verdict is Verdict.INCONCLUSIVE
    assert any("no latency histogram" in reason for reason in analysis.reasons)


# -- bakes -----------------------------------------------------------------------------------------


def bake_canary(
    metrics: MetricSource, gate: AnalysisGate = GATE, compare: bool = True, clock: FakeClock | None = None
) -> tuple[BakeResult, FakeClock]:
    clock = clock or FakeClock()
    clock.now = 1_000.0
    result = bake(
        "canary 10%",
        gate.bake_seconds,
        Pool.CANARY,
        metrics,
        gate,
        Progress(),
        compare,
        clock,
        clock.sleep,
    )
    return result, clock


def test_a_clear_failure_stops_the_bake_at_once() -> None:
    metrics = FakeMetrics()
    metrics.samples[Pool.CANARY] = PoolSample(requests=20, errors=6, p95_seconds=0.05)
    result, clock = bake_canary(metrics)
    assert result.verdict is Verdict.FAIL
    assert clock.now == 1_005.0  # the first look


def test_good_traffic_passes_only_after_the_minimum_bake() -> None:
    result, clock = bake_canary(FakeMetrics())
    assert result.verdict is Verdict.PASS
    assert clock.now == 1_060.0


def test_no_traffic_ends_inconclusive_saying_so_never_passed() -> None:
    """Every bake without load was "inconclusive", and the engine promoted the release."""
    metrics = FakeMetrics()
    metrics.samples[Pool.CANARY] = PoolSample(requests=0, errors=0, p95_seconds=None)
    result, clock = bake_canary(metrics)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no request reached the canary pool" in result.reasons[0]
    assert clock.now - 1_000 == pytest.approx(GATE.max_idle_seconds, abs=GATE.interval_seconds)


@dataclass
class SlowMetrics(FakeMetrics):
    """Plenty of traffic, but every answer takes `answer_seconds` of the clock: a starved machine,
    or a slow metrics API."""

    clock: FakeClock | None = None
    answer_seconds: float = 0.0

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        assert self.clock is not None
        self.clock.now += self.answer_seconds
        return super().evidence(pool, start, end)


def test_looks_slower_than_the_idle_limit_are_not_idleness() -> None:
    """Under -n 4 a release was held "with nothing new to judge" while every look it managed to
    make found new requests: the looks themselves took longer than the idle limit."""
    clock = FakeClock()
    metrics = SlowMetrics(clock=clock, answer_seconds=GATE.max_idle_seconds + 10)
    result, _ = bake_canary(metrics, clock=clock)
    assert result.verdict is Verdict.PASS, result.reasons


@dataclass
class GrainedSlowMetrics(SlowMetrics):
    """Data complete to whole 15 s grains (a Prometheus scrape, an Azure Monitor minute): two
    looks inside one grain see the same data. The second look's canary answer is slow."""

    calls: int = 0

    def complete_until(self, pool: Pool, now: float) -> float | None:
        return math.floor(now / 15) * 15

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        self.calls += 1
        self.answer_seconds = GATE.max_idle_seconds + 10 if self.calls == 3 else 0.0
        return super().evidence(pool, start, end)


def test_a_slow_look_started_before_the_idle_limit_is_not_idleness() -> None:
    """The look that found nothing new was started well inside the limit; it only ended past it."""
    clock = FakeClock()
    result, _ = bake_canary(GrainedSlowMetrics(clock=clock), clock=clock)
    assert result.verdict is Verdict.PASS, result.reasons


def test_a_slow_look_that_finds_nothing_new_after_the_idle_limit_holds() -> None:
    clock = FakeClock()
    metrics = SlowMetrics(clock=clock, answer_seconds=GATE.max_idle_seconds + 10)
    metrics.samples[Pool.CANARY] = PoolSample(requests=0, errors=0, p95_seconds=None)
    result, _ = bake_canary(metrics, clock=clock)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no request reached the canary pool" in result.reasons[0]
    assert clock.now - 1_000 < GATE.max_bake_seconds  # held for idleness, not at the deadline


def test_thin_traffic_extends_the_bake_to_its_deadline_and_says_what_it_needs() -> None:
    metrics = FakeMetrics()
    metrics.samples[Pool.CANARY] = PoolSample(requests=0.2, errors=0, p95_seconds=0.05)
    result, clock = bake_canary(metrics, compare=False)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert clock.now - 1_000 >= GATE.max_bake_seconds
    held = result.reasons[0]
    assert held.startswith("too little traffic to judge") and "a pass needs about" in held


def test_thin_traffic_that_keeps_coming_passes_within_a_long_enough_deadline() -> None:
    metrics = FakeMetrics()
    metrics.samples[Pool.CANARY] = PoolSample(requests=4, errors=0, p95_seconds=0.05)
    result, _ = bake_canary(metrics, GATE.model_copy(update={"max_bake_seconds": 3_600}))
    assert result.verdict is Verdict.PASS


def test_an_unreachable_source_is_no_evidence_and_holds() -> None:
    """Metrics unavailable for a whole bake failed it (rolled back), and unavailable for part of
    it passed it on what was there."""
    metrics = FakeMetrics(unavailable="Prometheus at http://127.0.0.1:9: connection refused")
    result, _ = bake_canary(metrics)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "did not answer (Prometheus at http://127.0.0.1:9" in result.reasons[0]


@dataclass
class StaleAfter(FakeMetrics):
    """Clean traffic whose data stops arriving at `stops`: a scrape target gone (HAProxy killed)."""

    stops: float = 1_030.0
    asked: list[tuple[float, float]] | None = None

    def complete_until(self, pool: Pool, now: float) -> float | None:
        return None if now > self.stops else now

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        if self.asked is not None:
            self.asked.append((start, end))
        return super().evidence(pool, start, end)


def test_data_that_stops_arriving_holds_instead_of_passing() -> None:
    metrics = StaleAfter()
    result, _ = bake_canary(metrics)
    assert result.verdict is Verdict.INCONCLUSIVE


@dataclass
class Delayed(FakeMetrics):
    """A source complete only `delay_seconds` behind now, counting by whole minutes."""

    asked: list[tuple[float, float]] | None = None

    def align(self, start: float) -> float:
        return math.ceil(start / 60) * 60

    def complete_until(self, pool: Pool, now: float) -> float | None:
        return math.floor((now - self.delay_seconds) / 60) * 60

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        assert self.asked is not None
        self.asked.append((start, end))
        return super().evidence(pool, start, end)


def test_only_complete_spans_after_the_weight_change_are_judged_and_the_bake_lasts_the_delay_more() -> None:
    metrics = Delayed(delay_seconds=180, asked=[])
    gate = GATE.model_copy(update={"interval_seconds": 10.0, "bake_seconds": 120.0})
    result, clock = bake_canary(metrics, gate)
    assert result.verdict is Verdict.PASS
    assert metrics.asked
    for start, end in metrics.asked:
        assert start == 1_020.0  # the first whole minute after the weight change at 1,000
        assert end % 60 == 0 and end <= clock.now - 180
    # 120 s of data: from 1,020 to 1,140, complete 180 s later.
    assert clock.now >= 1_140 + 180


@dataclass
class RouterErrors(FakeMetrics):
    """The router answers 503 itself to `per_second` requests: a total outage, no pool up."""

    per_second: float = 50.0

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        count = self.per_second * (end - start)
        return PoolEvidence(count, count)


def test_router_errors_with_no_pool_count_against_the_canary() -> None:
    metrics = RouterErrors()
    metrics.samples[Pool.CANARY] = PoolSample(requests=0, errors=0, p95_seconds=None)
    result, _ = bake_canary(metrics)
    assert result.verdict is Verdict.FAIL


def test_no_evidence_adds_nothing() -> None:
    evidence = clean(100)
    assert evidence + NO_EVIDENCE == evidence


def test_fake_metrics_raise_as_a_source_would() -> None:
    with pytest.raises(MetricsUnavailableError):
        FakeMetrics(unavailable="down").evidence(Pool.CANARY, 0, 1)


# -- health gate -----------------------------------------------------------------------------------


class RecordingProgress(Progress):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def health(self, consecutive: int, needed: int, slot: SlotHealth) -> None:
        self.lines.append(f"health {consecutive}/{needed}")

    def state(self, text: str) -> None:
        self.lines.append(text)


def test_the_health_gate_says_passed_once_then_waits_for_the_router() -> None:
    """A serving slot whose pool the router's monitor has not seen up yet: the gate reported
    "passed" at every probe while it was in fact waiting (six times in one CI log)."""
    world = FakeWorld()
    world.slots.staging.version = "2.0.0"
    world.router.canary_up = False
    clock, progress = FakeClock(), RecordingProgress()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        world.router.canary_up = clock.now >= 5

    gate = HealthGate(consecutive=2, interval_seconds=1, timeout_seconds=30)
    slot = wait_until_serving(world.slots, world.router, "2.0.0", gate, progress, clock, sleep)
    assert slot.version == "2.0.0"
    assert progress.lines == [
        "health 1/2",
        "health 2/2",
        "staging serves the version; waiting for the router to see the canary pool up",
    ]
