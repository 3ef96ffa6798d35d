"""The release engine: observe -> plan -> act -> verify (DESIGN.md sections 3 and 5).

Every command reads the live state first and derives what to do from it, so running a command
twice changes nothing the second time and rerunning after a crash continues from wherever the
world actually is. The journal supplies what the world cannot tell: which version is being
released and which version it replaces.

A release of V:  pre-flight (secrets) -> [backup -> migrate] -> deploy V to staging -> health gate
-> smoke test staging -> canary 10% -> bake -> 50% -> bake -> promote (swap, then at once weights
back to stable) -> smoke test production -> verify bake -> promoted.
A failed gate rolls back: before the swap one weight write; after it a swap back; past an
irreversible migration it holds instead and prints the restore procedure.

Every state change (an action's outcome, a gate's verdict, the release's end) is journaled and
announced to the team through the notifier; an announcement that fails is journaled and changes
nothing else (releases/notify.py).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from releases import deployment_log, gates, runbook
from releases.errors import BadInput, GateFailed, Held, Refused, TargetUnavailable, VerificationFailed
from releases.gates import BakeResult, Progress, Verdict
from releases.journal import Event, Journal
from releases.lock import LockHolder, ReleaseLock, current_holder
from releases.model import LiveState, Migration, Outcome, Pool, ReleaseRecord, Weights
from releases.notify import Notice, Notifier, Silent
from releases.settings import EnvironmentSettings
from releases.targets.base import Targets


class Step(enum.StrEnum):
    PREFLIGHT = "pre-flight"
    BACKUP = "backup"
    MIGRATE = "migrate"
    DEPLOY = "deploy"
    HEALTH = "health gate"
    WEIGHTS = "set weights"
    BAKE = "bake"
    SWAP = "swap slots"
    SMOKE = "smoke test"
    VERIFY = "verify"


@dataclass(frozen=True)
class Action:
    step: Step
    description: str
    weights: Weights | None = None
    percent: int | None = None


@dataclass
class Result:
    """What a command did: the plan, whether it ran, and the release it concerned."""

    actions: list[Action]
    release: ReleaseRecord | None
    executed: bool
    bakes: list[BakeResult] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class Status:
    environment: str
    service: str
    live: LiveState
    release: ReleaseRecord | None
    lock: LockHolder | None


def _done(events: list[Event], step: Step) -> list[Event]:
    """The journaled outcomes of `step` among a release's events."""
    return [event for event in events if event.kind == "outcome" and event.action == step.value]


def validate_percent(percent: int) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise BadInput(
            f"--percent must be a whole number from 1 to 100 (1-99 sets the canary weight, 100 promotes), "
            f"got {percent!r}"
        )
    return percent


class Engine:
    def __init__(
        self,
        environment: str,
        service: str,
        targets: Targets,
        settings: EnvironmentSettings,
        journal: Journal,
        progress: Progress | None = None,
        clock: gates.Clock = time.time,  # the metric sources' time: bakes ask for spans by it
        sleep: gates.Sleep = time.sleep,
        notifier: Notifier | None = None,
        reports_dir: Path | None = None,
    ) -> None:
        self.environment = environment
        self.service = service
        self.targets = targets
        self.settings = settings
        self.journal = journal
        self.progress = progress or Progress()
        self.clock = clock
        self.sleep = sleep
        self.notifier = notifier or Silent()
        self.reports_dir = reports_dir  # where each finished release's deployment log goes
        self._lock: ReleaseLock | None = None
        # The traffic split as last read or written, for announcements (no extra router reads).
        self._weights: Weights | None = None

    # -- observe ---------------------------------------------------------------------------------

    def observe(self) -> LiveState:
        production, staging = self.targets.slots.probe()
        self._weights = self.targets.router.read_weights()
        return LiveState(
            weights=self._weights,
            production=production,
            staging=staging,
            canary_pool_up=self.targets.router.pool_up(Pool.CANARY),
        )

    def status(self) -> Status:
        return Status(
            environment=self.environment,
            service=self.service,
            live=self.observe(),
            release=self.journal.latest_release(self.environment, self.service),
            lock=current_holder(self.journal, self.environment, self.service),
        )

    # -- plan ------------------------------------------------------------------------------------

    def _in_flight(self) -> ReleaseRecord | None:
        record = self.journal.latest_release(self.environment, self.service)
        return record if record is not None and record.in_flight else None

    def _target_version(self, live: LiveState, version: str | None) -> tuple[str, ReleaseRecord | None]:
        active = self._in_flight()
        if active is not None:
            if version is not None and version != active.version:
                raise Refused(
                    f"the release of {active.version} to {self.service} in {self.environment} is in flight "
                    f"(at {active.last_percent or 0}%); finish it or `invoke rollback` before "
                    f"releasing {version}"
                )
            return active.version, active
        if version is None:
            raise BadInput(
                f"no release of {self.service} is in flight in {self.environment}: the first step needs "
                "--version V (the version to put on the staging slot)"
            )
        if live.production.version == version:
            raise Refused(f"production already serves {version}; nothing to release")
        return version, None

    def plan_step(
        self, live: LiveState, version: str, percent: int, migration_pending: bool = False
    ) -> list[Action]:
        """The actions that take the live state to `percent` for `version`, and nothing more."""
        actions: list[Action] = []
        promoted = live.production.version == version
        before_traffic = not promoted and live.weights.canary == 0
        if percent < 100 and promoted:
            raise Refused(
                f"{version} already serves production (promoted); shifting canary weight now would send "
                f"users to the previous version. Use `invoke release --percent 100` to finish or "
                "`invoke rollback`"
            )
        if before_traffic:
            actions.append(Action(Step.PREFLIGHT, "pre-flight: secrets present, references resolved"))
        if migration_pending:
            if not before_traffic:
                raise Refused(
                    f"the migration {version} carries has not run, yet traffic reaches {version}; "
                    "`invoke rollback` first"
                )
            actions.append(Action(Step.BACKUP, "back up the database and verify the backup"))
            actions.append(Action(Step.MIGRATE, f"run the migration for {version} (once)"))
        if not promoted:
            if live.staging.version != version:
                if live.weights.canary > 0:
                    raise Refused(
                        f"the staging slot serves {live.staging.version}, not {version}, and takes "
                        f"{live.weights.canary_share:.0%} of traffic; `invoke rollback` first"
                    )
                actions.append(Action(Step.DEPLOY, f"deploy {version} to the staging slot"))
            actions.append(
                Action(
                    Step.HEALTH,
                    f"staging reports healthy, ready and {version} "
                    f"{self.settings.health.consecutive} times in a row",
                )
            )
            if before_traffic and self._smoke_configured:
                actions.append(Action(Step.SMOKE, "smoke test the staging slot", percent=0))
        if percent < 100:
            target = Weights.canary_percent(percent)
            if not live.weights.matches(target):
                actions.append(Action(Step.WEIGHTS, f"weights {live.weights} -> {target}", target, percent))
            actions.append(
                Action(
                    Step.BAKE,
                    f"bake {self.settings.analysis.bake_seconds:g} s at {percent}%",
                    percent=percent,
                )
            )
        else:
            if not promoted:
                actions.append(
                    Action(Step.SWAP, f"swap slots: production {live.production.version} -> {version}")
                )
            if not live.weights.matches(Weights.all_stable()):
                actions.append(
                    Action(
                        Step.WEIGHTS,
                        f"weights {live.weights} -> {Weights.all_stable()}",
                        Weights.all_stable(),
                        100,
                    )
                )
            if self._smoke_configured:
                actions.append(Action(Step.SMOKE, "smoke test production", percent=100))
            actions.append(
                Action(
                    Step.VERIFY,
                    f"verify production serves {version}, bake {self.settings.verify_seconds:g} s",
                )
            )
        return actions

    @property
    def _smoke_configured(self) -> bool:
        return bool(self.settings.smoke.checks or self.settings.smoke.command)

    def plan_rollback(self, live: LiveState, record: ReleaseRecord) -> list[Action]:
        actions: list[Action] = []
        if live.production.version == record.version and record.previous_version is not None:
            if live.staging.version != record.previous_version:
                raise Refused(
                    f"{record.version} was promoted and the staging slot now serves {live.staging.version}, "
                    f"not {record.previous_version}; a swap would not restore it. Release "
                    f"{record.previous_version} again instead"
                )
            if not live.staging.serving:
                raise Refused(
                    f"the staging slot (serving {record.previous_version}) is not healthy "
                    f"({live.staging.detail}); swapping back would send users to it"
                )
            actions.append(
                Action(Step.SWAP, f"swap slots: production {record.version} -> {record.previous_version}")
            )
        if not live.weights.matches(Weights.all_stable()):
            actions.append(
                Action(
                    Step.WEIGHTS, f"weights {live.weights} -> {Weights.all_stable()}", Weights.all_stable(), 0
                )
            )
        return actions

    # -- act and verify --------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with ReleaseLock(self.journal, self.environment, self.service, self.settings.lease_seconds) as lock:
            self._lock = lock
            try:
                yield
            finally:
                self._lock = None

    def _intent(self, record: ReleaseRecord | None, action: Action) -> None:
        if self._lock is not None:
            self._lock.ensure_held()
        self.journal.record(self.environment, self.service, "intent", action.step.value,
                            record.id if record else None, description=action.description,
                            percent=action.percent)  # fmt: skip

    def _outcome(self, record: ReleaseRecord | None, action: Action, **detail: object) -> None:
        self.journal.record(self.environment, self.service, "outcome", action.step.value,
                            record.id if record else None, description=action.description,
                            percent=action.percent, **detail)  # fmt: skip
        self._announce(record, f"done: {action.description}", detail=str(detail.get("undone", "")))

    def _finish(self, record: ReleaseRecord, outcome: Outcome) -> None:
        self.journal.finish(record, outcome)
        self._announce(record, f"release {outcome.value}")
        if self.reports_dir is not None:
            try:
                written = {"path": str(deployment_log.write(self.journal, record, self.reports_dir))}
            except OSError as error:  # the release is done and journaled; its page can be rewritten
                written = {"failed": str(error)}
            self.journal.record(
                self.environment, self.service, "note", "deployment log", record.id, **written
            )

    def _announce(
        self, record: ReleaseRecord | None, state: str, verdict: str | None = None, detail: str = ""
    ) -> None:
        """Tell the team; a failure to is journaled, never raised (a rollback must go on)."""
        if record is None:
            return
        notice = Notice(self.environment, self.service, record.version, self.journal.operator, state,
                        self._weights, verdict, detail)  # fmt: skip
        failure = self.notifier.send(notice)
        if failure is not None:
            self.journal.record(self.environment, self.service, "note", "notify", record.id,
                                state=state, failed=failure)  # fmt: skip

    def _write_weights(self, record: ReleaseRecord | None, action: Action) -> None:
        assert action.weights is not None
        self._intent(record, action)
        self.targets.router.write_weights(action.weights)
        self._verify_weights(action.weights)
        self._weights = action.weights
        if record is not None and action.percent is not None:
            self.journal.set_percent(record, action.percent)
        self._outcome(record, action, weights=str(action.weights))

    def _verify_weights(self, expected: Weights) -> None:
        observed = self.targets.router.read_weights()
        if not observed.matches(expected):
            raise VerificationFailed(f"weights read back as {observed} after writing {expected}")

    def _verify_slots(self, production: str | None, staging: str | None) -> None:
        observed_production, observed_staging = self.targets.slots.probe()
        if (production and observed_production.version != production) or (
            staging and observed_staging.version != staging
        ):
            raise VerificationFailed(
                f"after the swap production serves {observed_production.version} and staging "
                f"{observed_staging.version}; expected {production} and {staging}"
            )

    def _bake(self, record: ReleaseRecord, action: Action, label: str, duration: float, pool: Pool,
              compare: bool) -> BakeResult:  # fmt: skip
        self._intent(record, action)
        result = gates.bake(label, duration, pool, self.targets.metrics, self.settings.analysis,
                            self.progress, compare, self.clock, self.sleep)  # fmt: skip
        last = result.analyses[-1] if result.analyses else None
        self.journal.record(
            self.environment, self.service, "gate", action.step.value, record.id,
            percent=action.percent, verdict=result.verdict.value, reasons=list(result.reasons),
            analyses=len(result.analyses),
            requests=last.judged.requests if last else None,
            error_rate=last.judged.error_rate if last else None,
            p95_seconds=last.judged.p95_seconds if last else None,
            p_value=last.p_value if last else None,
        )  # fmt: skip
        self._announce(record, f"gate on {label}", result.verdict.value, "; ".join(result.reasons))
        return result

    def _execute(self, record: ReleaseRecord, actions: list[Action], hold: bool) -> list[BakeResult]:
        bakes = []
        # The promotion performs the weights reset itself, back to back with the swap.
        performed_with_swap: list[Action] = []
        for action in actions:
            if action in performed_with_swap or action.step is Step.PREFLIGHT:
                continue  # the pre-flight ran before the release was journaled
            if action.step is Step.BACKUP:
                self._back_up(record, action)
            elif action.step is Step.MIGRATE:
                self._migrate(record, action)
            elif action.step is Step.SMOKE:
                self._smoke(record, action, hold)
            elif action.step is Step.DEPLOY:
                self._intent(record, action)
                self.targets.slots.deploy_staging(record.version)
                self._outcome(record, action)
            elif action.step is Step.HEALTH:
                self._intent(record, action)
                gates.wait_until_serving(
                    self.targets.slots, self.targets.router, record.version, self.settings.health,
                    self.progress, self.clock, self.sleep,
                )  # fmt: skip
                self._outcome(record, action)
            elif action.step is Step.WEIGHTS:
                self._write_weights(record, action)
            elif action.step is Step.SWAP:
                reset = next((a for a in actions if a.step is Step.WEIGHTS), None)
                self._promote(record, action, reset)
                if reset is not None:
                    performed_with_swap.append(reset)
            elif action.step in (Step.BAKE, Step.VERIFY):
                promoted = action.step is Step.VERIFY
                if promoted:
                    self._verify_slots(record.version, record.previous_version)
                result = self._bake(
                    record, action,
                    label=f"production {record.version}" if promoted else f"canary {action.percent}%",
                    duration=self.settings.verify_seconds if promoted else self.settings.bake_seconds,
                    pool=Pool.STABLE if promoted else Pool.CANARY,
                    compare=not promoted,
                )  # fmt: skip
                bakes.append(result)
                if result.failed:
                    self._gate_failed(record, action, result.reasons, hold)
                elif result.verdict is not Verdict.PASS:
                    self._gate_inconclusive(record, action, result)
        return bakes

    def _gate_inconclusive(self, record: ReleaseRecord, action: Action, result: BakeResult) -> None:
        """The bake's evidence stayed too thin to judge until its deadline: hold, never move on.
        Its figures are journaled with the gate event (`_bake`); traffic stays where it is."""
        promoted = action.step is Step.VERIFY
        where = "after promotion" if promoted else f"at {action.percent}%"
        reasons = "; ".join(result.reasons)
        self.journal.record(self.environment, self.service, "note", "held", record.id,
                            reason="gate inconclusive", percent=action.percent)  # fmt: skip
        self._announce(record, f"held {where}: gate inconclusive", result.verdict.value, reasons)
        retry = f"invoke release --percent {100 if promoted else action.percent}"
        raise Held(
            f"gate inconclusive {where}: {reasons}. Held: traffic is unchanged ({self._weights}). "
            f"`{retry}` to bake this step again (with more traffic), or `invoke rollback`"
        )

    # -- the runbook's steps ---------------------------------------------------------------------

    def _preflight(self, record: ReleaseRecord | None, action: Action, migration_pending: bool) -> None:
        """Before anything changes, and before a new release is journaled: the secrets are there,
        and what a migration needs is described. Its outcome is journaled with the release."""
        required = self.settings.required_secrets.get(self.service, ())
        if migration_pending:  # the migration reads its DATABASE_URL from the store: required too
            required = tuple(dict.fromkeys((*required, self.settings.migrations.database_url_secret)))
        try:
            runbook.check_secrets(self.targets.secrets, required, self.targets.slots)
            if migration_pending:
                self._migration_prerequisites()
        except Refused as error:
            self.journal.record(self.environment, self.service, "note", action.step.value,
                                record.id if record else None, refused=str(error))  # fmt: skip
            raise

    def _migration_prerequisites(self) -> None:
        migrations = self.settings.migrations
        if not migrations.command:
            raise BadInput(
                f"the release carries a migration but releases.{self.environment}.migrations.command is "
                "not configured (the command to run, as a list of arguments)"
            )
        if self.targets.database is None:
            raise Refused(
                f"the release carries a migration but {self.service} in {self.environment} describes no "
                "database to back up first (the topology's `database`); nothing was changed"
            )

    def _back_up(self, record: ReleaseRecord, action: Action) -> None:
        assert self.targets.database is not None
        self._intent(record, action)
        backup = self.targets.database.backup(
            f"before-{record.id}", self.settings.migrations.backup_timeout_seconds
        )
        self._outcome(record, action, location=backup.location, size_bytes=backup.size_bytes,
                      verified=backup.verification, restore=backup.restore_procedure)  # fmt: skip

    def _migrate(self, record: ReleaseRecord, action: Action) -> None:
        assert self.targets.secrets is not None
        self._intent(record, action)
        url = self.targets.secrets.value(self.settings.migrations.database_url_secret)
        try:
            run = runbook.run_migration(self.settings.migrations, url, record.version)
        except GateFailed as error:
            self.journal.record(self.environment, self.service, "gate", action.step.value, record.id,
                                verdict="fail", reasons=[str(error)])  # fmt: skip
            self._announce(record, "migration", "fail", str(error).splitlines()[0])
            raise
        self._outcome(record, action, seconds=round(run.seconds, 3), output=run.output,
                      migration=record.migration.value if record.migration else None)  # fmt: skip

    def _smoke(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        staging = action.percent != 100
        self._intent(record, action)
        reasons = runbook.smoke_test(self.targets.slots, self.settings.smoke, staging)
        verdict = "fail" if reasons else "pass"
        self.journal.record(self.environment, self.service, "gate", action.step.value, record.id,
                            percent=action.percent, verdict=verdict, reasons=reasons)  # fmt: skip
        self._announce(record, f"gate on {action.description}", verdict, "; ".join(reasons))
        if not reasons:
            return
        if staging:
            raise GateFailed(
                f"smoke tests failed on the staging slot: {'; '.join(reasons)}. No traffic was moved; "
                f"fix and rerun, or `invoke rollback` to close the release of {record.version}"
            )
        self._gate_failed(record, action, tuple(reasons), hold)

    def _applied_irreversible_migration(self, record: ReleaseRecord) -> str | None:
        """The restore procedure when `record` ran an irreversible migration, else None."""
        if record.migration is not Migration.IRREVERSIBLE:
            return None
        events = self.journal.events(record.id)
        if not _done(events, Step.MIGRATE):
            return None
        backups = _done(events, Step.BACKUP)
        return str(backups[-1].detail.get("restore", "")) if backups else "(no backup was journaled)"

    def _promote(self, record: ReleaseRecord, swap: Action, reset: Action | None) -> None:
        """The swap and the weights reset back to back, read back after both: the moment between
        the two writes is the only one where canary traffic can meet the previous version (now on
        the staging slot), so nothing, not even a read, is allowed into it."""
        reset_weights = reset.weights if reset is not None else None
        self._intent(record, swap)
        self.targets.slots.swap()
        if reset is not None and reset_weights is not None:
            self._intent(record, reset)
            try:
                self.targets.router.write_weights(reset_weights)
            except TargetUnavailable as error:
                self._undo_swap(record, swap, error)
            self._weights = reset_weights
        self._verify_slots(record.version, record.previous_version)
        self._outcome(record, swap)
        if reset is not None and reset_weights is not None:
            self._verify_weights(reset_weights)
            self.journal.set_percent(record, 100)
            self._outcome(record, reset, weights=str(reset_weights))

    def _undo_swap(self, record: ReleaseRecord, swap: Action, error: TargetUnavailable) -> None:
        """The router refused the weights reset right after the swap (blocked, unreachable): swap
        back, so canary traffic does not keep reaching the previous version on the staging slot and
        nothing is left half-applied."""
        self.targets.slots.swap()
        self._verify_slots(record.previous_version, record.version)
        self._outcome(record, swap, undone=f"the weights reset failed: {error}")
        raise TargetUnavailable(
            f"{error}. The swap was undone: production serves {record.previous_version} again and the "
            "weights are as they were; rerun `invoke release --percent 100` once the router answers"
        ) from None

    def _gate_failed(
        self, record: ReleaseRecord, action: Action, failures: tuple[str, ...], hold: bool
    ) -> None:
        reasons = "; ".join(failures)
        promoted = action.step is Step.VERIFY or action.percent == 100  # the verify bake, the smoke test
        where = "after promotion" if promoted else f"at {action.percent}%"
        if hold:
            raise GateFailed(
                f"gate failed {where}: {reasons}. Holding as asked (--hold): traffic is unchanged; "
                "`invoke rollback` to undo"
            )
        restore = self._applied_irreversible_migration(record)
        if restore is not None:
            self.journal.record(self.environment, self.service, "note", "held", record.id,
                                reason="irreversible migration")  # fmt: skip
            self._announce(record, "held: irreversible migration", "fail", reasons)
            raise GateFailed(
                f"gate failed {where}: {reasons}. NOT rolled back: {record.version} ran an irreversible "
                f"migration, and {record.previous_version} may not run on the migrated schema. Traffic "
                f"is unchanged. To go back, restore the database first:\n{restore}\nthen "
                "`invoke rollback --past-migration`"
            )
        self._roll_back(record)
        raise GateFailed(
            f"gate failed {where}: {reasons}. Rolled back: production serves {record.previous_version}"
        )

    def _roll_back(self, record: ReleaseRecord) -> list[Action]:
        live = self.observe()
        actions = self.plan_rollback(live, record)
        for action in actions:
            if action.step is Step.SWAP:
                self._intent(record, action)
                self.targets.slots.swap()
                self._verify_slots(record.previous_version, record.version)
                self._outcome(record, action)
            else:
                self._write_weights(record, action)
        self._finish(record, Outcome.ROLLED_BACK)
        return actions

    # -- commands --------------------------------------------------------------------------------

    def release(
        self,
        percent: int,
        version: str | None = None,
        hold: bool = False,
        dry_run: bool = False,
        migration: Migration | None = None,
    ) -> Result:
        """Move the release to `percent` (100 promotes). Idempotent; resumes from the live state.
        `migration` declares, on the first step, that the release runs a migration first."""
        validate_percent(percent)
        if dry_run:
            live = self.observe()
            if done := self._already_promoted(live, percent, version):
                return done
            target, active = self._target_version(live, version)
            migration = self._migration(active, migration)
            pending = self._migration_pending(active, migration)
            return Result(self.plan_step(live, target, percent, pending), active, executed=False)
        with self._locked():
            live = self.observe()
            if done := self._already_promoted(live, percent, version):
                return done
            target, record = self._target_version(live, version)
            migration = self._migration(record, migration)
            pending = self._migration_pending(record, migration)
            actions = self.plan_step(live, target, percent, pending)
            self.targets.slots.preflight()
            preflight = actions[0] if actions and actions[0].step is Step.PREFLIGHT else None
            if preflight is not None:
                self._preflight(record, preflight, migration_pending=pending)
            if record is None:
                record = self.journal.start_release(
                    self.environment, self.service, target, previous_version=live.production.version,
                    migration=migration,
                )  # fmt: skip
            if preflight is not None:
                self._outcome(record, preflight)
            bakes = self._execute(record, actions, hold)
            if percent == 100:
                self._finish(record, Outcome.PROMOTED)
            return Result(actions, record, executed=True, bakes=bakes)

    @staticmethod
    def _migration(record: ReleaseRecord | None, declared: Migration | None) -> Migration | None:
        """The release's migration: declared on its first step, journaled from then on."""
        if record is None:
            return declared
        if declared is not None and declared is not record.migration:
            raise BadInput(
                f"--migration {declared.value} differs from what the release of {record.version} "
                f"declared on its first step ({record.migration or 'no migration'}); a migration is "
                "declared once, with the first step"
            )
        return record.migration

    def _migration_pending(self, record: ReleaseRecord | None, migration: Migration | None) -> bool:
        if migration is None:
            return False
        if record is None:
            return True
        return not _done(self.journal.events(record.id), Step.MIGRATE)

    def _already_promoted(self, live: LiveState, percent: int, version: str | None) -> Result | None:
        """Promoting a release that is already promoted is a no-op, not an error."""
        latest = self.journal.latest_release(self.environment, self.service)
        if (
            percent == 100
            and latest is not None
            and latest.outcome is Outcome.PROMOTED
            and version in (None, latest.version)
            and live.production.version == latest.version
            and live.weights.matches(Weights.all_stable())
        ):
            return Result([], latest, executed=False, message=f"{latest.version} is already promoted")
        return None

    def auto(
        self,
        version: str | None,
        hold: bool = False,
        dry_run: bool = False,
        migration: Migration | None = None,
    ) -> list[Result]:
        """Walk the configured steps with their gates, from wherever the release is now."""
        live = self.observe()
        target, _ = self._target_version(live, version)
        if live.production.version == target:
            remaining = [100]
        else:
            current = round(live.weights.canary_share * 100) if live.staging.version == target else 0
            remaining = [step for step in self.settings.steps if step >= current]
        if dry_run:
            return [self.release(step, target, hold, True, migration) for step in remaining[:1]]
        return [self.release(step, target, hold, migration=migration) for step in remaining]

    def rollback(self, dry_run: bool = False, past_migration: bool = False) -> Result:
        """Put production back on the previous version and all traffic on stable. Past an
        irreversible migration only with `past_migration` (the operator restored the database)."""
        if dry_run:
            live = self.observe()
            record = self._rollback_target()
            return Result(self.plan_rollback(live, record), record, executed=False)
        with self._locked():
            record = self._rollback_target()
            restore = self._applied_irreversible_migration(record)
            if restore is not None and not past_migration:
                raise Refused(
                    f"{record.version} ran an irreversible migration; {record.previous_version} may not "
                    f"run on the migrated schema. Restore the database first:\n{restore}\nthen "
                    "`invoke rollback --past-migration`. Nothing was changed"
                )
            actions = self._roll_back(record)
            return Result(actions, record, executed=True)

    def _rollback_target(self) -> ReleaseRecord:
        record = self.journal.latest_release(self.environment, self.service)
        if record is None or record.outcome not in (None, Outcome.PROMOTED):
            last = f" (the last release, {record.version}, is {record.outcome})" if record else ""
            raise Refused(f"nothing to roll back for {self.service} in {self.environment}{last}")
        return record
