"""The rehearsal: a fresh sandbox, steady load through HAProxy, and six scenarios run as real
`invoke` commands in subprocesses (as an operator would type them):

1. good release: `release --auto --version 2.0.0` ends promoted;
2. bad release: the staging slot gets 2.1.0 with an injected error rate, then
   `release --auto --version 2.1.0`; the gates must roll it back;
3. manual rollback: `release --auto --version 2.2.0` (promoted), then `rollback`;
4. release with a migration: `release --auto --version 2.3.0 --migration reversible` backs the
   database up (verified by a restore), migrates it, then releases as usual and ends promoted;
5. release with no load: the load stops, `release --auto --version 2.4.0` finds no evidence at
   10% and ends held (exit 5, traffic unchanged), then `rollback` closes it;
6. bad release under thin load: 2.5.0 with 30% injected errors under 20 requests/s (2 a second at
   the 10% step): the gates stop it at 10% on the few requests there are.

The report joins the load's samples with the journal's timestamps.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from releases.errors import Refused
from releases.journal import Event, EventKind, Journal
from releases.model import Outcome, ReleaseRecord
from releases.plan import Step
from releases.rehearsal import measures
from releases.rehearsal.load import LoadGenerator, Sample
from releases.sandbox.environment import Sandbox
from releases.settings import ReleaseSettings
from releases.state.url import state_url
from releases.state_files import open_private, private_directory, write_private

SERVICE = "web"
MAX_SECONDS = 600.0
HELD = "held"  # a release in flight the gates held: traffic unchanged, waiting for an operator
BASELINE_SECONDS = 2.0
COMMAND_TIMEOUT_SECONDS = 180.0
BAD_ERROR_RATE = 0.3
THIN_RATE = 20.0  # requests per second through the router for the thin-load scenario


@dataclass
class ScenarioReport:
    name: str
    version: str
    expected_outcome: str
    outcome: str | None = None
    exit_codes: list[int] = field(default_factory=list)
    release_id: str | None = None
    previous_version: str | None = None
    canary_share: dict[str, float | None] = field(default_factory=dict)
    promotion_old_version_responses: int | None = None
    rollback_seconds: float | None = None
    detection_seconds: float | None = None
    # The migration scenario: what the journal says of its backup and its migration.
    backup: dict[str, Any] | None = None
    migration: dict[str, Any] | None = None
    expects_migration: bool = False
    # Where the release stopped (the last weights step it reached), and where it was expected to.
    stopped_at_percent: int | None = None
    expected_stop: int | None = None

    @property
    def as_expected(self) -> bool:
        migrated = not self.expects_migration or (self.backup is not None and self.migration is not None)
        stopped = self.expected_stop is None or self.stopped_at_percent == self.expected_stop
        return self.outcome == self.expected_outcome and migrated and stopped


@dataclass
class RehearsalReport:
    started_at: float
    duration_seconds: float
    target_rps: float
    achieved_rps: float
    requests: dict[str, Any]
    scenarios: list[ScenarioReport]
    logs: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def as_expected(self) -> bool:
        return all(s.as_expected for s in self.scenarios)


class Rehearsal:
    def __init__(
        self, settings: ReleaseSettings, project_dir: Path, rate: float, progress: Any = print
    ) -> None:
        self.settings = settings
        self.project_dir = project_dir
        self.rate = rate
        self.say = progress
        self.logs = settings.state_dir / "rehearsal"
        self.journal = Journal(state_url(settings), operator="rehearsal")
        self._commands = 0

    def invoke(self, *args: str) -> tuple[int, float]:
        """Run one `invoke` command as an operator would; returns its exit code and start time."""
        self._commands += 1
        log = self.logs / f"{self._commands:02d}-{'-'.join(a.strip('-') for a in args[:3])}.log"
        environment = {**os.environ, "PLATFORM_STATE_DIR": str(self.settings.state_dir)}
        self.say(f"$ invoke {' '.join(args)}")
        started = time.time()
        with open_private(log) as output:
            completed = subprocess.run(
                [sys.executable, "-m", "invoke", "--search-root", str(self.project_dir), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                timeout=COMMAND_TIMEOUT_SECONDS,
                check=False,
            )
        self.say(f"  exit {completed.returncode} after {time.time() - started:.1f} s (log: {log})")
        return completed.returncode, started

    def _latest(self) -> ReleaseRecord:
        record = self.journal.latest_release("sandbox", SERVICE)
        if record is None:
            raise Refused("the rehearsal's release left no record in the journal")
        return record

    def run(self, keep: bool) -> RehearsalReport:
        private_directory(self.logs)
        sandbox = Sandbox(self.settings.sandbox_dir)
        sandbox.down()
        self.journal.abandon_in_flight("sandbox")
        self.say("starting the sandbox")
        sandbox.up()
        started = time.time()
        try:
            url = sandbox.public_url(SERVICE) + "/"
            load = LoadGenerator(
                url,
                self.rate,
                max_requests=int(self.rate * MAX_SECONDS),
                max_seconds=MAX_SECONDS,
                headers=sandbox.origin_headers(),
            )
            load.start()
            try:
                time.sleep(BASELINE_SECONDS)
                good, bad = self._good(), self._bad()
                manual, rollback_started = self._manual_rollback()
                migration = self._migration()
                time.sleep(BASELINE_SECONDS)
            finally:
                load.stop()
            idle = self._no_load()
            thin = LoadGenerator(
                url,
                THIN_RATE,
                max_requests=int(THIN_RATE * MAX_SECONDS),
                max_seconds=MAX_SECONDS,
                headers=sandbox.origin_headers(),
            )
            thin.start()
            try:
                sparse = self._bad_under_thin_load()
            finally:
                thin.stop()
            self._measure(good, load.samples)
            self._measure(bad, load.samples, caught_by_gates=True)
            self._measure(manual, load.samples, rollback_started=rollback_started)
            self._measure(migration, load.samples)
            self._measure(sparse, thin.samples, caught_by_gates=True, shares=False)
            scenarios = [good, bad, manual, migration, idle, sparse]
        finally:
            if not keep:
                sandbox.down()
        samples = load.samples + thin.samples
        _write_samples(samples, self.logs / "samples.csv")
        duration = (load.stopped_at - load.started_at + thin.stopped_at - thin.started_at) or 1.0
        by_version: dict[str, int] = {}
        for sample in samples:
            by_version[sample.version or "(none)"] = by_version.get(sample.version or "(none)", 0) + 1
        failures = [s for s in samples if s.failed]
        return RehearsalReport(
            started_at=started,
            duration_seconds=round(time.time() - started, 2),
            target_rps=self.rate,
            achieved_rps=round(len(samples) / duration, 1),
            requests={
                "total": len(samples),
                "failed": len(failures),
                "fault_errors": sum(1 for s in samples if s.fault_injected),
                "by_version": by_version,
                "p95_seconds": _p95([s.seconds for s in samples]),
                "failure_examples": sorted({f"{s.status} {s.error or ''}".strip() for s in failures})[:5],
            },
            scenarios=scenarios,
            logs=str(self.logs),
        )

    def _good(self) -> ScenarioReport:
        scenario = ScenarioReport("good release", "2.0.0", Outcome.PROMOTED.value)
        code, _ = self.invoke("release", "--auto", "--version", scenario.version)
        scenario.exit_codes.append(code)
        self._record(scenario)
        return scenario

    def _bad(self) -> ScenarioReport:
        scenario = ScenarioReport("bad release", "2.1.0", Outcome.ROLLED_BACK.value)
        code, _ = self.invoke(
            "sandbox.deploy", "--version", scenario.version, "--error-rate", str(BAD_ERROR_RATE)
        )
        scenario.exit_codes.append(code)
        code, _ = self.invoke("release", "--auto", "--version", scenario.version)
        scenario.exit_codes.append(code)
        self._record(scenario)
        return scenario

    def _manual_rollback(self) -> tuple[ScenarioReport, float]:
        """The scenario, and when the operator's `rollback` command started."""
        scenario = ScenarioReport("promotion then manual rollback", "2.2.0", Outcome.ROLLED_BACK.value)
        code, _ = self.invoke("release", "--auto", "--version", scenario.version)
        scenario.exit_codes.append(code)
        time.sleep(1.0)  # production serves 2.2.0 for a moment before the operator changes their mind
        code, started = self.invoke("rollback")
        scenario.exit_codes.append(code)
        self._record(scenario)
        return scenario, started

    def _migration(self) -> ScenarioReport:
        scenario = ScenarioReport(
            "release with a migration", "2.3.0", Outcome.PROMOTED.value, expects_migration=True
        )
        code, _ = self.invoke("release", "--auto", "--version", scenario.version, "--migration", "reversible")
        scenario.exit_codes.append(code)
        self._record(scenario)
        if scenario.release_id is not None:
            for event in self.journal.events(scenario.release_id):
                detail = event.detail
                if event.kind is EventKind.OUTCOME and event.action == Step.BACKUP:
                    scenario.backup = {key: detail.get(key) for key in ("location", "size_bytes", "verified")}
                elif event.kind is EventKind.OUTCOME and event.action == Step.MIGRATE:
                    scenario.migration = {key: detail.get(key) for key in ("output", "seconds")}
        return scenario

    def _no_load(self) -> ScenarioReport:
        """No traffic at all: the gate has nothing to judge, so the release is held at 10% with
        traffic unchanged; the operator then rolls it back."""
        scenario = ScenarioReport("release with no load", "2.4.0", HELD, expected_stop=10)
        code, _ = self.invoke("release", "--auto", "--version", scenario.version)
        scenario.exit_codes.append(code)
        self._record(scenario)
        code, _ = self.invoke("rollback")
        scenario.exit_codes.append(code)
        return scenario

    def _bad_under_thin_load(self) -> ScenarioReport:
        scenario = ScenarioReport(
            "bad release under thin load", "2.5.0", Outcome.ROLLED_BACK.value, expected_stop=10
        )
        code, _ = self.invoke(
            "sandbox.deploy", "--version", scenario.version, "--error-rate", str(BAD_ERROR_RATE)
        )
        scenario.exit_codes.append(code)
        code, _ = self.invoke("release", "--auto", "--version", scenario.version)
        scenario.exit_codes.append(code)
        self._record(scenario)
        return scenario

    def _record(self, scenario: ScenarioReport) -> None:
        record = self._latest()
        scenario.release_id = record.id
        scenario.previous_version = record.previous_version
        events = self.journal.events(record.id)
        # Where the gates stopped it: the step of its last gate verdict (a rollback resets the
        # release's percent to 0 afterwards).
        verdicts = [event.detail.get("percent") for event in events if event.kind == "gate"]
        scenario.stopped_at_percent = next((p for p in reversed(verdicts) if isinstance(p, int)), None)
        held = any(event.action == "held" for event in events)
        if record.outcome is not None:
            scenario.outcome = record.outcome.value
        else:
            scenario.outcome = HELD if held else "in flight"

    def _measure(
        self,
        scenario: ScenarioReport,
        samples: list[Sample],
        *,
        caught_by_gates: bool = False,
        rollback_started: float | None = None,
        shares: bool = True,
    ) -> None:
        if scenario.release_id is None or scenario.previous_version is None:
            return
        events = self.journal.events(scenario.release_id)
        for start, end, percent in _steps(events) if shares else []:
            scenario.canary_share[str(percent)] = _round(
                measures.share_of(samples, scenario.version, start, end)
            )
        swap = next((e for e in events if e.kind is EventKind.INTENT and e.action == Step.PROMOTE), None)
        if swap is not None and not caught_by_gates:
            verified = next(
                (e.at for e in events if e.kind is EventKind.GATE and e.action == Step.VERIFY), swap.at + 60
            )
            scenario.promotion_old_version_responses = measures.count_version(
                samples, scenario.previous_version, swap.at, verified
            )
        if caught_by_gates:
            first = measures.first_response_from(samples, scenario.version, events[0].at)
            if first is not None:
                scenario.detection_seconds = _round(
                    measures.seconds_until_gone(samples, scenario.version, first)
                )
        if rollback_started is not None:
            scenario.rollback_seconds = _round(
                measures.seconds_until_gone(samples, scenario.version, rollback_started)
            )


def _write_samples(samples: list[Sample], path: Path) -> None:
    """Every response of the run, for anyone who wants to check the figures."""
    with open_private(path, newline="") as output:
        writer = csv.writer(output)
        writer.writerow(["sent_at", "seconds", "status", "version", "fault_injected", "error"])
        for s in samples:
            writer.writerow(
                [f"{s.sent_at:.6f}", f"{s.seconds:.6f}", s.status, s.version, s.fault_injected, s.error]
            )


def _steps(events: list[Event]) -> list[tuple[float, float, int]]:
    """(weights written, bake ended, percent) for each canary step of a release."""
    steps = []
    for index, event in enumerate(events):
        percent = event.detail.get("percent")
        if (
            event.kind is EventKind.OUTCOME
            and event.action == Step.WEIGHTS
            and isinstance(percent, int)
            and percent < 100
        ):
            end = next(
                (
                    e.at
                    for e in events[index:]
                    if e.kind is EventKind.GATE and e.detail.get("percent") == percent
                ),
                None,
            )
            if end is not None and percent > 0:
                steps.append((event.at, end, percent))
    return steps


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _p95(values: list[float]) -> float | None:
    return round(statistics.quantiles(values, n=100)[94], 4) if len(values) >= 2 else None


def write_report(report: RehearsalReport, path: Path) -> None:
    write_private(path, json.dumps(report.to_json(), indent=2) + "\n")
