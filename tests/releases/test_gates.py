"""Analysis verdicts: absolute thresholds, the canary-versus-stable test, and inconclusive."""

from __future__ import annotations

from releases.gates import Progress, Verdict, analyse, bake
from releases.model import Pool, PoolSample
from releases.settings import AnalysisGate
from tests.releases.fakes import FakeClock, FakeMetrics

GATE = AnalysisGate(min_requests=100)
CLEAN = PoolSample(requests=2000, errors=2, p95_seconds=0.05)


def test_too_few_requests_is_inconclusive_even_when_all_fail() -> None:
    analysis = analyse(PoolSample(requests=20, errors=20, p95_seconds=2.0), CLEAN, GATE)
    assert analysis.verdict is Verdict.INCONCLUSIVE


def test_error_rate_over_the_threshold_fails() -> None:
    analysis = analyse(PoolSample(requests=500, errors=10, p95_seconds=0.05), CLEAN, GATE)
    assert analysis.verdict is Verdict.FAIL
    assert any("error rate 2.00% is over 1.00%" in reason for reason in analysis.reasons)


def test_p95_over_the_threshold_fails() -> None:
    analysis = analyse(PoolSample(requests=500, errors=0, p95_seconds=0.8), CLEAN, GATE)
    assert analysis.verdict is Verdict.FAIL
    assert any("p95 latency 800 ms is over 500 ms" in reason for reason in analysis.reasons)


def test_canary_clearly_worse_than_stable_fails_under_the_absolute_threshold() -> None:
    # 0.9% is under the 1% threshold, but far above stable's 0.01% on these counts.
    canary = PoolSample(requests=5000, errors=45, p95_seconds=0.05)
    stable = PoolSample(requests=20000, errors=2, p95_seconds=0.05)
    analysis = analyse(canary, stable, GATE)
    assert analysis.verdict is Verdict.FAIL
    assert analysis.p_value is not None and analysis.p_value < GATE.comparison_alpha


def test_canary_like_stable_passes() -> None:
    analysis = analyse(PoolSample(requests=1000, errors=1, p95_seconds=0.05), CLEAN, GATE)
    assert analysis.verdict is Verdict.PASS
    assert analysis.p_value is not None and analysis.p_value > GATE.comparison_alpha


def test_bake_stops_at_the_first_failing_analysis() -> None:
    metrics = FakeMetrics()
    metrics.samples[Pool.CANARY] = PoolSample(requests=500, errors=100, p95_seconds=0.05)
    clock = FakeClock()
    gate = AnalysisGate(bake_seconds=60, interval_seconds=5)
    result = bake("canary 10%", 60, Pool.CANARY, metrics, gate, Progress(), True, clock, clock.sleep)
    assert result.failed
    assert len(result.analyses) == 1 and clock.now == 5


def test_bake_without_traffic_ends_inconclusive_not_passed() -> None:
    metrics = FakeMetrics()
    metrics.samples[Pool.CANARY] = PoolSample(requests=0, errors=0, p95_seconds=None)
    clock = FakeClock()
    result = bake("canary 10%", 30, Pool.CANARY, metrics, GATE, Progress(), True, clock, clock.sleep)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "fewer than the 100 needed" in result.reasons[0]
