"""Gates: the staging slot's health before traffic, and the judgement of each step's evidence.

A verdict comes from evidence, never from its absence (docs/gates.md has the reasoning):

- **Absolute criteria, sequentially tested.** Each criterion is a rate judged against its limit:
  the error rate against `max_error_rate`, and the share of requests slower than
  `max_p95_seconds` against 5% (the p95 is under the limit exactly when fewer than 5% of requests
  are slower). Each is judged by two one-sided *mixture sequential probability ratio tests* on the
  counts gathered since the step's weight change: a likelihood ratio averaged over a few
  alternatives, which under its null hypothesis is a nonnegative martingale, so by Ville's
  inequality it ever reaches 1/alpha with probability at most alpha, however often it is looked
  at (Wald 1945; Robbins 1970; Johari et al. 2017, "always valid p-values"). FAIL when "within
  the limit" is rejected at `fail_alpha` (alternatives 1.5x to 30x the limit); PASS when "at or
  over the limit" is rejected at `pass_beta` (alternatives half, a fifth and a twentieth of it).
- **Canary against stable**, as Kayenta's judge does, on errors and on latency: errors fail when
  exact (Clopper-Pearson) bounds show the canary's rate above stable's by more than a margin;
  latency fails when a Mann-Whitney test on the two histograms is significant *and* the effect is
  large (a canary request slower than a stable one with probability above
  `comparison_latency_effect`). These are not martingales, so they spend `comparison_alpha` over
  their looks, alpha_k = alpha 6 / (pi^2 k^2) at the k-th (which sums to alpha), and look only when
  the canary's count grew by half since the last one. They can only fail a step.
- **INCONCLUSIVE otherwise.** A bake extends while the evidence is thin, up to its deadline, then
  ends inconclusive, and the engine holds: it never moves on without PASS. A PASS needs
  `bake_seconds` of data and `min_requests` requests as well. No data (no traffic, an unreachable
  source, a target no longer scraped) is no evidence; the router's own 5xx, which no pool served,
  count against the judged pool.

The judge functions take counts and are pure, so `benchmarks/gate_calibration.py` drives the very
code the engine uses, with a simulated clock.
"""

from __future__ import annotations

import enum
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from releases.errors import Refused
from releases.model import Pool, SlotHealth
from releases.settings import AnalysisGate, HealthGate
from releases.targets.metrics.protocol import MetricSource, MetricsUnavailableError, PoolEvidence
from releases.targets.routers.protocol import TrafficRouter
from releases.targets.slots.protocol import SlotPair

# The p95 is under the limit exactly when at most this share of requests is slower.
LATENCY_TAIL = 0.05
# Alternatives (as multiples of the limit) and their weights in the mixtures: FAIL looks for
# rates above the limit, near it (2x) and far above it (30x, a broken version, caught in a few
# dozen requests); PASS for rates well under it (half, as the benchmark's "good" version).
FAIL_ALTERNATIVES = ((1.5, 0.2), (2.0, 0.2), (4.0, 0.2), (10.0, 0.2), (30.0, 0.2))
PASS_ALTERNATIVES = ((0.5, 0.5), (0.2, 0.25), (0.05, 0.25))
# Canary-versus-stable looks: the first once both pools have this many requests, then each time
# the judged pool's count has grown by this factor.
COMPARISON_FIRST_REQUESTS = 50.0
COMPARISON_GROWTH = 1.5


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


# -- sequential tests on counts -------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _alternatives(
    limit: float, multiples: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], ...]:
    """(rate, weight) pairs, the rates kept inside (0, 1) and the weights renormalised."""
    kept = [(limit * multiple, weight) for multiple, weight in multiples if 0 < limit * multiple < 1]
    if not kept:  # a limit so high no multiple fits: halfway to certainty
        kept = [((1 + limit) / 2, 1.0)]
    total = sum(weight for _, weight in kept)
    return tuple((rate, weight / total) for rate, weight in kept)


@functools.lru_cache(maxsize=64)
def _coefficients(
    limit: float, alternatives: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float, float], ...]:
    """Per alternative: log weight, log ratio per event, log ratio per request without one."""
    return tuple(
        (math.log(weight), math.log(rate / limit), math.log1p(-rate) - math.log1p(-limit))
        for rate, weight in alternatives
    )


def log_evalue(
    events: float, requests: float, limit: float, alternatives: tuple[tuple[float, float], ...]
) -> float:
    """log of the mixture likelihood ratio sum_k w_k prod (p_k/limit)^x ((1-p_k)/(1-limit))^(1-x)
    for `events` of `requests` (x = 1 for an event): the evidence against a rate of `limit`."""
    others = requests - events
    terms = [
        log_weight + events * per_event + others * per_other
        for log_weight, per_event, per_other in _coefficients(limit, alternatives)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(term - top) for term in terms))


@dataclass(frozen=True)
class RateTest:
    """One criterion (a rate of events among requests against a limit) and its verdict."""

    criterion: str  # "error rate", "requests slower than 500 ms"
    verdict: Verdict
    events: float
    requests: float
    limit: float
    log_fail: float  # log evidence against "within the limit"
    log_pass: float  # log evidence against "at or over the limit"
    beta: float = 0.05

    @property
    def rate(self) -> float | None:
        return self.events / self.requests if self.requests > 0 else None

    @property
    def more_needed(self) -> float | None:
        """Requests without an event a PASS still needs (None once decided)."""
        if self.verdict is not Verdict.INCONCLUSIVE:
            return None
        passes = _alternatives(self.limit, PASS_ALTERNATIVES)
        return _more_needed(self.events, self.requests, self.limit, passes, self.beta)

    def describe(self, confidence: float) -> str:
        observed = f"{self.criterion} {self.rate or 0.0:.2%}"
        counted = f"{self.requests:,.0f} requests"
        if self.verdict is Verdict.FAIL:
            ratio = f"{math.exp(self.log_fail):.3g}" if self.log_fail < 690 else "over 1e300"
            return f"{observed} is over {self.limit:.2%} ({counted}; sequential likelihood ratio {ratio})"
        if self.verdict is Verdict.PASS:
            return f"{observed} is under {self.limit:.2%} at {confidence:.0%} confidence ({counted})"
        return (
            f"{observed} is not yet shown under {self.limit:.2%} at {confidence:.0%} confidence ({counted})"
        )


def judge_rate(
    criterion: str,
    events: float,
    requests: float,
    limit: float,
    gate: AnalysisGate,
    fail_events: float | None = None,
) -> RateTest:
    """Both one-sided tests on `events` of `requests`. `fail_events`, when given, is the count
    the FAIL test uses (a histogram can bound the slow requests from below and from above)."""
    requests = max(0.0, requests)
    events = min(max(0.0, events), requests)
    failing = events if fail_events is None else min(max(0.0, fail_events), requests)
    log_fail = log_evalue(failing, requests, limit, _alternatives(limit, FAIL_ALTERNATIVES))
    passes = _alternatives(limit, PASS_ALTERNATIVES)
    log_pass = log_evalue(events, requests, limit, passes)
    beta = gate.pass_beta
    if log_fail >= math.log(1 / gate.fail_alpha):
        return RateTest(criterion, Verdict.FAIL, failing, requests, limit, log_fail, log_pass, beta)
    if log_pass >= math.log(1 / beta):
        return RateTest(criterion, Verdict.PASS, events, requests, limit, log_fail, log_pass, beta)
    return RateTest(criterion, Verdict.INCONCLUSIVE, events, requests, limit, log_fail, log_pass, beta)


def _more_needed(
    events: float, requests: float, limit: float, passes: tuple[tuple[float, float], ...], beta: float
) -> float:
    """Event-free requests after which the PASS test would reject: bounded by the fewest any one
    component needs alone (each bounds the mixture from below), then found by bisection."""
    goal = math.log(1 / beta)
    bounds = []
    for rate, weight in passes:
        per_request = math.log1p(-rate) - math.log1p(-limit)
        now = math.log(weight) + events * math.log(rate / limit) + (requests - events) * per_request
        bounds.append(max(0.0, (goal - now) / per_request))
    low, high = 0, math.ceil(min(bounds))
    while low < high:
        middle = (low + high) // 2
        if log_evalue(events, requests + middle, limit, passes) >= goal:
            high = middle
        else:
            low = middle + 1
    return high


def judge_latency(evidence: PoolEvidence, gate: AnalysisGate) -> RateTest | None:
    """The p95 against `max_p95_seconds`, as the share of requests slower than it against 5%.
    A histogram knows only its bounds: the PASS test counts as slow everything above the largest
    bound at or under the limit (too many, if anything), the FAIL test everything above the
    smallest bound at or over it (too few). None when the source has no histogram."""
    if not evidence.latency or evidence.latency[-1][1] <= 0:
        return None
    limit = gate.max_p95_seconds
    total = evidence.latency[-1][1]
    under = [(bound, count) for bound, count in evidence.latency if bound <= limit]
    over = [(bound, count) for bound, count in evidence.latency if bound >= limit]
    slow_for_pass = total - under[-1][1] if under else total
    slow_for_fail = total - over[0][1] if over else 0.0
    criterion = f"requests slower than {limit * 1000:.0f} ms"
    return judge_rate(criterion, slow_for_pass, total, LATENCY_TAIL, gate, fail_events=slow_for_fail)


# -- canary against stable ------------------------------------------------------------------------


def spent_alpha(alpha: float, look: int) -> float:
    """The share of `alpha` the `look`-th comparison may spend (they sum to alpha)."""
    return alpha * 6 / (math.pi**2 * look**2)


@dataclass(frozen=True)
class Comparison:
    failed: bool
    reason: str
    p_value: float | None = None


def compare_errors(judged: PoolEvidence, baseline: PoolEvidence, alpha: float, margin: float) -> Comparison:
    """Fail when the judged pool's error rate is above the baseline's by more than `margin`, each
    bounded exactly (Clopper-Pearson, alpha/2 a side)."""
    from scipy.stats import beta  # SciPy takes a moment to import; only analyses need it

    n_j, e_j = judged.requests, min(judged.errors, judged.requests)
    n_b, e_b = baseline.requests, min(baseline.errors, baseline.requests)
    lower = float(beta.ppf(alpha / 2, e_j, n_j - e_j + 1)) if e_j > 0 else 0.0
    upper = float(beta.ppf(1 - alpha / 2, e_b + 1, n_b - e_b)) if e_b < n_b else 1.0
    failed = lower - upper > margin
    reason = (
        f"error rate {e_j / n_j:.2%} is above stable's {e_b / n_b:.2%} by more than {margin:.2%} "
        f"(at least {lower:.2%} against at most {upper:.2%}, Clopper-Pearson at {alpha:.2g})"
    )
    return Comparison(failed, reason)


def _bins(evidence: PoolEvidence, bounds: Sequence[float]) -> list[float]:
    """Requests per bucket (not cumulative) on `bounds`, the bounds both histograms share."""
    cumulative = dict(evidence.latency)
    counts, below = [], 0.0
    for bound in bounds:
        counts.append(max(0.0, cumulative[bound] - below))
        below = max(below, cumulative[bound])
    return counts


def compare_latency(
    judged: PoolEvidence, baseline: PoolEvidence, alpha: float, effect: float
) -> Comparison | None:
    """Mann-Whitney on the two histograms (ties within a bucket, corrected variance, continuity):
    fail when the judged pool is significantly slower at `alpha` *and* a judged request is slower
    than a baseline one with probability (Vargha-Delaney A) above `effect`. None without two
    histograms on the same bounds."""
    from scipy.stats import norm

    bounds = sorted(set(dict(judged.latency)) & set(dict(baseline.latency)))
    if not bounds:
        return None
    judged_bins, baseline_bins = _bins(judged, bounds), _bins(baseline, bounds)
    n_j, n_b = sum(judged_bins), sum(baseline_bins)
    if n_j <= 0 or n_b <= 0:
        return None
    u, baseline_below = 0.0, 0.0
    for count, baseline_count in zip(judged_bins, baseline_bins, strict=True):
        u += count * (baseline_below + baseline_count / 2)
        baseline_below += baseline_count
    total = n_j + n_b
    ties = sum((a + b) ** 3 - (a + b) for a, b in zip(judged_bins, baseline_bins, strict=True))
    variance = n_j * n_b / 12 * ((total + 1) - ties / (total * (total - 1)))
    a_measure = u / (n_j * n_b)
    if variance <= 0:
        return Comparison(False, "latency histograms identical", 1.0)
    p_value = float(norm.sf((u - n_j * n_b / 2 - 0.5) / math.sqrt(variance)))
    failed = p_value < alpha and a_measure > effect
    reason = (
        f"latency is above stable's: a canary request is the slower of a pair {a_measure:.0%} of the "
        f"time, over {effect:.0%} (Mann-Whitney p={p_value:.2g} < {alpha:.2g})"
    )
    return Comparison(failed, reason, p_value)


# -- one analysis ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    """One look at the evidence gathered since the step began, and its verdict with reasons."""

    judged: PoolEvidence
    baseline: PoolEvidence | None
    verdict: Verdict
    reasons: tuple[str, ...]
    p_value: float | None = None  # the latency comparison's, when one ran at this look
    tests: tuple[RateTest, ...] = ()
    seconds: float = 0.0  # how much data (time) was judged

    @property
    def more_needed(self) -> float | None:
        """Requests without error or slow response a PASS still needs, when that is what it waits for."""
        needed = [test.more_needed for test in self.tests if test.more_needed is not None]
        return max(needed) if needed else None


def analyse(
    judged: PoolEvidence,
    baseline: PoolEvidence | None,
    gate: AnalysisGate,
    seconds: float = math.inf,
    min_seconds: float = 0.0,
    comparison_alpha: float | None = None,
) -> Analysis:
    """Judge the evidence since the step began. `baseline` is stable's during a canary step (None
    after promotion); `comparison_alpha` is what this look may spend comparing them (None: no
    comparison at this look). PASS needs `min_seconds` of data as well."""
    confidence = 1 - gate.pass_beta
    errors = judge_rate("error rate", judged.errors, judged.requests, gate.max_error_rate, gate)
    latency = judge_latency(judged, gate)
    tests = (errors,) if latency is None else (errors, latency)
    failures = [test.describe(confidence) for test in tests if test.verdict is Verdict.FAIL]
    p_value = None
    if baseline is not None and comparison_alpha is not None:
        error_comparison = compare_errors(judged, baseline, comparison_alpha / 2, gate.error_margin)
        if error_comparison.failed:
            failures.append(error_comparison.reason)
        latency_comparison = compare_latency(
            judged, baseline, comparison_alpha / 2, gate.comparison_latency_effect
        )
        if latency_comparison is not None:
            p_value = latency_comparison.p_value
            if latency_comparison.failed:
                failures.append(latency_comparison.reason)
    if failures:
        return Analysis(judged, baseline, Verdict.FAIL, tuple(failures), p_value, tests, seconds)
    waiting = [test.describe(confidence) for test in tests if test.verdict is not Verdict.PASS]
    if latency is None:
        waiting.append(
            "the metric source reports no latency histogram, so the p95 cannot be shown under its limit"
        )
    if judged.requests < gate.min_requests:
        waiting.append(f"{judged.requests:,.0f} requests, fewer than the {gate.min_requests} a pass needs")
    if seconds < min_seconds:
        waiting.append(f"{seconds:.0f} s of data, a pass needs {min_seconds:g} s")
    if waiting:
        return Analysis(judged, baseline, Verdict.INCONCLUSIVE, tuple(waiting), p_value, tests, seconds)
    passed = tuple(test.describe(confidence) for test in tests)
    return Analysis(judged, baseline, Verdict.PASS, passed, p_value, tests, seconds)


@dataclass
class BakeResult:
    verdict: Verdict
    analyses: list[Analysis] = field(default_factory=list)
    reasons: tuple[str, ...] = ()
    seconds: float = 0.0  # from the bake's start to its verdict, on its clock
    # An operator ended the bake (`invoke promote`): the verdict is the one so far, not a judgement.
    ended_by_operator: bool = False
    paused_seconds: float = 0.0  # how long the bake clock stood still (`invoke pause`)

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS


class Progress:
    """What a gate reports while it runs; the task layer shows it (the engine never prints)."""

    def health(self, consecutive: int, needed: int, slot: SlotHealth) -> None: ...

    def bake(
        self, label: str, remaining: float, total: float, analysis: Analysis | None, paused: bool = False
    ) -> None: ...

    def state(self, text: str) -> None:
        """A change worth a line of its own: paused, resumed, waiting for approval, approved."""

    def step_ended(self, report: StepReport) -> None:
        """A bake ended: its verdict, figures, what happens next and where its log is."""


@dataclass(frozen=True)
class StepReport:
    """What an operator reads when a step's bake ends."""

    label: str
    result: BakeResult
    next_step: str  # what the command does now, or what the operator can run
    log_path: str | None  # the deployment log (written when the release ends)
    ended_by: str | None = None  # the control that ended the bake (`promote by alice (why)`)


class Interjection(enum.StrEnum):
    """What an operator can do to a running bake (releases/controls.py turns requests into these)."""

    PAUSE = "pause"  # the bake clock stops; evidence is still judged, and a FAIL still ends it
    RESUME = "resume"  # the clock goes on from where it stopped
    END = "end"  # the bake ends now with its verdict so far (`invoke promote`)


class BakeControls:
    """Where a bake asks, once per look, what operators asked of it since the last look."""

    def poll(self) -> Sequence[Interjection]:
        return ()


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
    waiting_for_router = False
    while True:
        slot = slots.probe_staging()
        before = consecutive
        serving = slot.serving and slot.version == version
        consecutive = min(consecutive + 1, gate.consecutive) if serving else 0
        if consecutive < gate.consecutive or before < gate.consecutive:  # "passed" is said once
            progress.health(consecutive, gate.consecutive, slot)
        if consecutive >= gate.consecutive:
            if router.pool_up(Pool.CANARY):
                return slot
            if not waiting_for_router:
                waiting_for_router = True
                progress.state("staging serves the version; waiting for the router to see the canary pool up")
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
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    controls: BakeControls | None = None,
) -> BakeResult:
    """Judge `judged_pool` on the evidence since now (the step's weights are written and read
    back), every `gate.interval_seconds`, until a verdict: FAIL at once; PASS once at least
    `duration` seconds of complete data were judged; INCONCLUSIVE at the deadline
    (`gate.max_bake_seconds`, or `duration` if longer, plus the source's ingestion delay), or
    early when no judged request and no fresh data came for `gate.max_idle_seconds` and a look
    since then found nothing new (time alone is not enough: a look may take longer than that).

    `controls` are asked at every look: a pause stops the bake clock (the time paused counts
    neither towards `duration` nor towards the deadline or the idle limit, and no PASS is given
    while paused; a FAIL still is: users still reach the canary), a resume goes on with the time
    left, an end returns at once with the verdict so far (`ended_by_operator`).

    `clock` must tell the metric source's time (epoch seconds): spans are asked for by it."""
    controls = controls or BakeControls()
    started = clock()
    window_start = metrics.align(started)
    lag = metrics.delay_seconds + (window_start - started)
    deadline = started + max(gate.max_bake_seconds, duration) + lag
    idle_limit = gate.max_idle_seconds + lag
    pools = [judged_pool, Pool.STABLE] if compare and judged_pool is not Pool.STABLE else [judged_pool]
    last_progress, last_requests = started, 0.0
    # When the latest look since the last progress that found nothing new (no data, no new
    # request, or no answer) was started. Idle means such a look was started `idle_limit` after the
    # last progress, not only that the time passed: on a starved machine, or with a slow metrics
    # API, one look may take longer than the limit itself.
    fruitless_at: float | None = None
    comparisons, compared_at = 0, 0.0
    unavailable: list[str] = []
    analysis: Analysis | None = None
    paused_since: float | None = None
    paused_total = 0.0
    remaining = duration

    def stood_still(at: float) -> float:
        return paused_total + (at - paused_since if paused_since is not None else 0.0)

    def result(verdict: Verdict, reasons: tuple[str, ...], ended: bool = False) -> BakeResult:
        now = clock()
        analyses = [analysis] if analysis is not None else []
        return BakeResult(verdict, analyses, reasons, now - started, ended, stood_still(now))

    progress.bake(label, duration, duration, None)
    while True:
        now = clock()
        for interjection in controls.poll():
            if interjection is Interjection.PAUSE and paused_since is None:
                paused_since = now
            elif interjection is Interjection.RESUME and paused_since is not None:
                paused_total += now - paused_since
                paused_since, last_progress, fruitless_at = None, now, None  # idle counts from here
            elif interjection is Interjection.END:
                verdict = analysis.verdict if analysis is not None else Verdict.INCONCLUSIVE
                return result(verdict, analysis.reasons if analysis is not None else (), ended=True)
        paused = paused_since is not None
        idle = fruitless_at is not None and fruitless_at - last_progress >= idle_limit
        if not paused and (now >= deadline + paused_total or idle):
            break
        sleep(gate.interval_seconds if paused else max(0.0, min(gate.interval_seconds, deadline - now)))
        now = clock()
        try:
            untils = [metrics.complete_until(pool, now) for pool in pools]
            if any(until is None or until <= window_start for until in untils):
                fruitless_at = now
                progress.bake(label, remaining, duration, analysis, paused)
                continue
            until = min(until for until in untils if until is not None)
            judged = metrics.evidence(judged_pool, window_start, until) + metrics.unattributed(
                window_start, until
            )
            baseline = metrics.evidence(Pool.STABLE, window_start, until) if len(pools) > 1 else None
        except MetricsUnavailableError as error:
            unavailable.append(str(error))
            fruitless_at = now
            progress.bake(label, remaining, duration, analysis, paused)
            continue
        unavailable.clear()  # it answers again: only a silence since the last look explains a hold
        if judged.requests > last_requests or paused:
            last_progress, last_requests, fruitless_at = clock(), max(last_requests, judged.requests), None
        else:
            fruitless_at = now
        comparison_alpha = None
        if (
            baseline is not None
            and min(judged.requests, baseline.requests) >= COMPARISON_FIRST_REQUESTS
            and judged.requests >= COMPARISON_GROWTH * compared_at
        ):
            comparisons, compared_at = comparisons + 1, judged.requests
            comparison_alpha = spent_alpha(gate.comparison_alpha, comparisons)
        # The bake clock: data judged, less the time it stood still (a pause does not bake).
        seconds = max(0.0, until - window_start - stood_still(now))
        analysis = analyse(judged, baseline, gate, seconds, duration, comparison_alpha)
        remaining = max(0.0, duration - seconds)
        progress.bake(label, remaining, duration, analysis, paused)
        if analysis.verdict is Verdict.FAIL or (analysis.verdict is Verdict.PASS and not paused):
            return result(analysis.verdict, analysis.reasons)
    return result(
        Verdict.INCONCLUSIVE,
        _held_reasons(analysis, judged_pool, clock() - started, now >= deadline, unavailable),
    )


def _held_reasons(
    analysis: Analysis | None, pool: Pool, elapsed: float, deadline: bool, unavailable: list[str]
) -> tuple[str, ...]:
    """Why a bake ended without a verdict, and what it would take, in the operator's words."""
    why = f"after {elapsed:.0f} s, {'at the deadline' if deadline else 'with nothing new to judge'}"
    if analysis is None or analysis.judged.requests <= 0:
        if unavailable:
            return (f"no evidence {why}: the metric source did not answer ({unavailable[-1]})",)
        return (
            f"no evidence {why}: no request reached the {pool.value} pool, or its metrics stopped "
            "arriving; a step is judged on traffic, so send some (or check the metric source)",
        )
    if unavailable:
        figures = f"{analysis.judged.requests:,.0f} requests judged before it stopped"
        return (f"no fresh evidence {why}: the metric source did not answer ({unavailable[-1]}); {figures}",)
    requests, seconds = analysis.judged.requests, max(analysis.seconds, 1e-9)
    rate = requests / seconds
    summary = (
        f"too little traffic to judge {why}: {requests:,.0f} requests in {seconds:.0f} s of data "
        f"({rate:.2g}/s)"
    )
    needed = analysis.more_needed
    if needed is not None and rate > 0:
        summary += (
            f"; a pass needs about {needed:,.0f} more requests (about {needed / rate:,.0f} s at this rate)"
        )
    return (summary, *analysis.reasons)
