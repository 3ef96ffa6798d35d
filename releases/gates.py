"""Gates: the staging slot's health before traffic, and the analysis of each step's figures.

The analysis judges the canary pool on absolute thresholds (error rate, p95 latency) and compares
it with the stable pool using a one-sided Fisher exact test on error counts (SciPy), which catches
a canary that is clearly worse than stable while still under the absolute threshold. With fewer
requests than `min_requests` in either pool the comparison says *inconclusive* rather than guess.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from releases.errors import Refused
from releases.model import Pool, PoolSample, SlotHealth
from releases.settings import AnalysisGate, HealthGate
from releases.targets.base import MetricSource, MetricsUnavailableError, SlotPair, TrafficRouter


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Analysis:
    judged: PoolSample
    baseline: PoolSample | None
    verdict: Verdict
    reasons: tuple[str, ...]
    p_value: float | None = None


@dataclass
class BakeResult:
    verdict: Verdict
    analyses: list[Analysis] = field(default_factory=list)
    reasons: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL


def compare_error_counts(judged: PoolSample, baseline: PoolSample) -> float:
    """p-value of "the judged pool's error proportion is greater than the baseline's"."""
    from scipy.stats import fisher_exact  # SciPy takes a moment to import; only analyses need it

    judged_errors, judged_total = round(judged.errors), round(judged.requests)
    baseline_errors, baseline_total = round(baseline.errors), round(baseline.requests)
    table = [
        [judged_errors, max(judged_total - judged_errors, 0)],
        [baseline_errors, max(baseline_total - baseline_errors, 0)],
    ]
    result: Any = fisher_exact(table, alternative="greater")  # SciPy's stubs leave it untyped
    return float(result.pvalue)


def analyse(judged: PoolSample, baseline: PoolSample | None, gate: AnalysisGate) -> Analysis:
    """Judge one window. `baseline` is the stable pool during a canary step, None after promotion."""
    if judged.requests < gate.min_requests:
        return Analysis(
            judged, baseline, Verdict.INCONCLUSIVE,
            (f"{judged.requests:.0f} requests in the window, fewer than the {gate.min_requests} needed",),
        )  # fmt: skip
    failures = []
    error_rate = judged.error_rate or 0.0
    if error_rate > gate.max_error_rate:
        failures.append(f"error rate {error_rate:.2%} is over {gate.max_error_rate:.2%}")
    if judged.p95_seconds is not None and judged.p95_seconds > gate.max_p95_seconds:
        failures.append(
            f"p95 latency {judged.p95_seconds * 1000:.0f} ms is over {gate.max_p95_seconds * 1000:.0f} ms"
        )
    elif (
        judged.p95_seconds is None
        and judged.mean_seconds is not None
        and judged.mean_seconds > gate.max_p95_seconds
    ):
        # Request latencies are skewed to the right, so their p95 is above their mean: a mean over
        # the limit is a p95 over it too. (A mean under it proves nothing, and passes.)
        failures.append(
            f"mean latency {judged.mean_seconds * 1000:.0f} ms (the source has no percentiles) is over "
            f"the p95 limit of {gate.max_p95_seconds * 1000:.0f} ms"
        )
    p_value = None
    if baseline is not None and baseline.requests >= gate.min_requests and judged.errors > 0:
        p_value = compare_error_counts(judged, baseline)
        if p_value < gate.comparison_alpha:
            failures.append(
                f"error rate {error_rate:.2%} is significantly above stable's "
                f"{baseline.error_rate or 0.0:.2%} (Fisher exact p={p_value:.2g} < {gate.comparison_alpha:g})"
            )
    if failures:
        return Analysis(judged, baseline, Verdict.FAIL, tuple(failures), p_value)
    return Analysis(judged, baseline, Verdict.PASS, (), p_value)


class Progress:
    """What a gate reports while it runs; the task layer shows it (the engine never prints)."""

    def health(self, consecutive: int, needed: int, slot: SlotHealth) -> None: ...

    def bake(self, label: str, remaining: float, total: float, analysis: Analysis | None) -> None: ...


Clock = Callable[[], float]
Sleep = Callable[[float], None]


def wait_until_serving(
    slots: SlotPair,
    router: TrafficRouter,
    version: str,
    gate: HealthGate,
    progress: Progress,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> SlotHealth:
    """Before any traffic: staging reports healthy, ready and `version` `gate.consecutive` times in
    a row, and the router's own monitor sees the canary pool up."""
    deadline = clock() + gate.timeout_seconds
    consecutive = 0
    while True:
        slot = slots.probe_staging()
        consecutive = consecutive + 1 if slot.serving and slot.version == version else 0
        progress.health(consecutive, gate.consecutive, slot)
        if consecutive >= gate.consecutive and router.pool_up(Pool.CANARY):
            return slot
        if clock() >= deadline:
            raise Refused(
                f"the staging slot did not report healthy, ready and version {version} "
                f"{gate.consecutive} times in a row within {gate.timeout_seconds:g} s "
                f"(last: version {slot.version}, healthy={slot.healthy}, ready={slot.ready}"
                f"{', ' + slot.detail if slot.detail else ''}); no traffic was moved"
            )
        sleep(gate.interval_seconds)


def bake(
    label: str,
    duration: float,
    judged_pool: Pool,
    metrics: MetricSource,
    gate: AnalysisGate,
    progress: Progress,
    compare: bool,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> BakeResult:
    """Watch `judged_pool` for `duration` seconds, analysing every interval; stop at the first
    failing analysis. The window never reaches back before the bake began, so figures from an
    earlier step or release are not judged against this one."""
    started = clock()
    result = BakeResult(Verdict.INCONCLUSIVE)
    unavailable = []
    progress.bake(label, duration, duration, None)
    while (elapsed := clock() - started) < duration:
        sleep(min(gate.interval_seconds, duration - elapsed))
        window = min(gate.window_seconds, max(clock() - started, 2 * gate.interval_seconds, 3.0))
        try:
            judged = metrics.sample(judged_pool, window)
            baseline = metrics.sample(Pool.STABLE, window) if compare else None
        except MetricsUnavailableError as error:
            unavailable.append(str(error))
            progress.bake(label, max(0.0, duration - (clock() - started)), duration, None)
            continue
        analysis = analyse(judged, baseline, gate)
        result.analyses.append(analysis)
        progress.bake(label, max(0.0, duration - (clock() - started)), duration, analysis)
        if analysis.verdict is Verdict.FAIL:
            result.verdict = Verdict.FAIL
            result.reasons = analysis.reasons
            return result
        if analysis.verdict is Verdict.PASS:
            result.verdict = Verdict.PASS
    if not result.analyses and unavailable:
        result.verdict = Verdict.FAIL
        result.reasons = (f"metrics were unavailable for the whole bake: {unavailable[-1]}",)
    elif result.verdict is Verdict.INCONCLUSIVE:
        result.reasons = result.analyses[-1].reasons if result.analyses else ("no analysis ran",)
    return result
