"""Gate calibration: how often the gates promote, stop or hold versions of known quality.

    .venv/bin/python benchmarks/gate_calibration.py [--trials 1000] [--seed 17]

Drives the engine's own `releases.gates.bake` (every step of a release: 10% and 50% compared
with stable, then the verify bake at 100%) against simulated traffic on a simulated clock, so
thousands of releases take a minute or two. Each simulated second, a pool receives Poisson(rate x share)
requests, each an error with the version's error rate and with a log-normal latency (sigma 0.5,
scaled to the version's p95) counted into the demo app's histogram buckets. Stable serves 0.1%
errors at a 150 ms p95 (the runbooks' "normal"), but in the absolute-p95 rows, where it is as slow
as the canary so that they measure the p95 judge alone (a row after them shows the comparison).
Settings are the production defaults (`AnalysisGate()`: looks every 10 s, 300 s minimum bake,
3,600 s deadline, 1% / 500 ms limits); one row looks every second (the sandbox's cadence: the
tests stay valid at any cadence, so looking more often only decides sooner) to time the decision.
"median s" is the seconds of canary traffic judged when the first step decided, over the trials
it failed.

Targets (docs/gates.md), at 10% canary share of 200 and of 40 requests/s: 0.5% errors promoted in at
least 99%; 2% stopped before 50% in at least 99%; 30% stopped at 10% in 100%, median decision
under 2 s at 200/s; p95 400 ms promoted in at least 95%, 900 ms stopped in 100%; no traffic, or
metrics gone, held in 100%.
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from releases.gates import Progress, Verdict, bake
from releases.model import Pool
from releases.sandbox.demo_app import LATENCY_BUCKETS
from releases.settings import AnalysisGate
from releases.targets.metrics.protocol import NO_EVIDENCE, MetricsUnavailableError, PoolEvidence

GATE = AnalysisGate()
VERIFY_SECONDS = 300.0
STEPS = (10, 50)
LATENCY_SIGMA = 0.5
Z95 = 1.6448536269514722
BOUNDS = (*LATENCY_BUCKETS, math.inf)


@dataclass(frozen=True)
class Version:
    error_rate: float
    p95_seconds: float


STABLE = Version(0.001, 0.150)


@functools.lru_cache(maxsize=16)
def bucket_probabilities(version: Version) -> np.ndarray:
    """P(latency <= bound) for each bound, log-normal with the version's p95."""
    from scipy.stats import norm

    median = version.p95_seconds / math.exp(Z95 * LATENCY_SIGMA)
    finite = [norm.cdf(math.log(bound / median) / LATENCY_SIGMA) for bound in LATENCY_BUCKETS]
    return np.diff(np.array([0.0, *finite, 1.0]))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SimulatedTraffic:
    """Per-second arrivals for both pools, drawn a chunk of seconds at a time and cumulated, so
    that a span's evidence is one subtraction. Complete up to the last whole second (a 1 s scrape)."""

    delay_seconds = 0.0
    CHUNK = 600

    def __init__(
        self,
        generator: np.random.Generator,
        rate: float,
        share: float,
        canary: Version,
        stable: Version,
        clock: Clock,
        metrics_gone_at: float | None = None,
    ) -> None:
        self.generator = generator
        self.gone_at = metrics_gone_at
        self.pools = {Pool.CANARY: (rate * share, canary), Pool.STABLE: (rate * (1 - share), stable)}
        width = 2 + len(BOUNDS)
        self.cumulative = {pool: np.zeros((1, width)) for pool in Pool}
        self.origin = clock.now

    def _table(self, pool: Pool, row: int) -> np.ndarray:
        table = self.cumulative[pool]
        while len(table) <= row:
            rate, version = self.pools[pool]
            requests = self.generator.poisson(rate, self.CHUNK)
            errors = self.generator.binomial(requests, version.error_rate)
            buckets = self.generator.multinomial(requests, bucket_probabilities(version))
            chunk = np.column_stack([requests, errors, np.cumsum(buckets, axis=1)[:, : len(BOUNDS)]])
            table = np.vstack([table, table[-1] + np.cumsum(chunk, axis=0)])
        self.cumulative[pool] = table
        return table

    def align(self, start: float) -> float:
        return start

    def complete_until(self, pool: Pool, now: float) -> float | None:
        if self.gone_at is not None and now - self.origin >= self.gone_at:
            raise MetricsUnavailableError("simulated: the metric source stopped answering")
        return math.floor(now - self.origin) + self.origin

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        row_start, row_end = round(start - self.origin), round(end - self.origin)
        table = self._table(pool, row_end)
        span = (table[row_end] - table[row_start]).tolist()
        return PoolEvidence(span[0], span[1], tuple(zip(BOUNDS, span[2:], strict=True)))

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        return NO_EVIDENCE


@dataclass
class Trial:
    outcome: str  # promoted, stopped at N% (failed), held at N%
    failed_at: int | None = None
    decision_seconds: float | None = None  # canary traffic judged at the first step's verdict


def release(
    generator: np.random.Generator,
    rate: float,
    version: Version,
    stable: Version,
    no_traffic: bool = False,
    metrics_gone_at: float | None = None,
    gate: AnalysisGate = GATE,
) -> Trial:
    clock = Clock()
    first_decision = None
    for percent in (*STEPS, 100):
        promoted = percent == 100
        # After the swap the new version is production: the stable pool, all the traffic.
        share, serving = (0.0, version) if promoted else (percent / 100, stable)
        traffic = SimulatedTraffic(
            generator, 0.0 if no_traffic else rate, share, version, serving, clock, metrics_gone_at
        )
        result = bake(
            f"{percent}%",
            VERIFY_SECONDS if promoted else gate.bake_seconds,
            Pool.STABLE if promoted else Pool.CANARY,
            traffic,
            gate,
            Progress(),
            not promoted,
            clock,
            clock.sleep,
        )
        if first_decision is None:
            first_decision = result.analyses[-1].seconds if result.analyses else None
        if result.verdict is Verdict.FAIL:
            return Trial(f"stopped at {percent}%", percent, first_decision)
        if result.verdict is Verdict.INCONCLUSIVE:
            return Trial(f"held at {percent}%", None, first_decision)
    return Trial("promoted", None, first_decision)


@dataclass(frozen=True)
class Scenario:
    name: str
    version: Version
    target: str
    stable: Version = STABLE
    no_traffic: bool = False
    metrics_gone_at: float | None = None
    interval_seconds: float = GATE.interval_seconds


SCENARIOS = (
    Scenario("0.5% errors (half the limit)", Version(0.005, 0.15), "promoted >= 99%"),
    Scenario("2% errors (twice the limit)", Version(0.02, 0.15), "stopped before 50% >= 99%"),
    Scenario("30% errors", Version(0.30, 0.15), "stopped at 10% = 100%"),
    # The same, looked at every second (the sandbox's cadence), for the time to the decision.
    Scenario("30% errors, 1 s looks", Version(0.30, 0.15), "median < 2 s at 200/s", interval_seconds=1.0),
    # The absolute p95 judge alone: stable as slow as the canary, so the comparison sees no change.
    Scenario("p95 400 ms (limit 500)", Version(0.001, 0.40), "promoted >= 95%", stable=Version(0.001, 0.40)),
    Scenario("p95 900 ms", Version(0.001, 0.90), "stopped = 100%", stable=Version(0.001, 0.90)),
    # And the comparison: 400 ms is under the limit, but far slower than stable's 150 ms.
    Scenario("p95 150 -> 400 ms (vs stable)", Version(0.001, 0.40), "(comparison) stopped"),
    Scenario("no traffic", Version(0.005, 0.15), "held = 100%, never promoted", no_traffic=True),
    Scenario(
        "metrics gone after 60 s", Version(0.005, 0.15), "held = 100%, never promoted", metrics_gone_at=60.0
    ),
)


def run(trials: int, seed: int) -> None:
    generator = np.random.default_rng(seed)
    print(
        f"gate calibration: {trials} releases per row, seed {seed}, production gate defaults "
        f"(fail_alpha {GATE.fail_alpha}, pass_beta {GATE.pass_beta}, bake {GATE.bake_seconds:g} s, "
        f"deadline {GATE.max_bake_seconds:g} s, looks every {GATE.interval_seconds:g} s)\n"
    )
    header = ("scenario", "req/s", "promoted", "stopped <50%", "stopped at 10%", "held", "median s", "target")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    started = time.perf_counter()
    for scenario in SCENARIOS:
        for rate in (200.0, 40.0):
            gate = GATE.model_copy(update={"interval_seconds": scenario.interval_seconds})
            results = [
                release(
                    generator,
                    rate,
                    scenario.version,
                    scenario.stable,
                    scenario.no_traffic,
                    scenario.metrics_gone_at,
                    gate,
                )
                for _ in range(trials)
            ]
            promoted = sum(r.outcome == "promoted" for r in results) / trials
            before_50 = sum(r.outcome != "promoted" and r.outcome.endswith("10%") for r in results) / trials
            at_10 = sum(r.failed_at == 10 for r in results) / trials
            held = sum(r.outcome.startswith("held") for r in results) / trials
            decisions = [r.decision_seconds for r in results if r.failed_at == 10 and r.decision_seconds]
            median = f"{statistics.median(decisions):.0f}" if decisions else "-"
            row = (
                scenario.name,
                f"{rate:.0f}",
                f"{promoted:.1%}",
                f"{before_50:.1%}",
                f"{at_10:.1%}",
                f"{held:.1%}",
                median,
                scenario.target,
            )
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\n{len(SCENARIOS) * 2 * trials} simulated releases in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--seed", type=int, default=17)
    options = parser.parse_args()
    run(options.trials, options.seed)


if __name__ == "__main__":
    main()
