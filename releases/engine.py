"""The release engine: observe -> plan -> act -> verify (docs/design.md).

Every command reads the live state first and derives what to do from it (releases/plan.py, a
pure planner), so running a command twice changes nothing the second time and rerunning after a
crash continues from wherever the world actually is. The executor below runs exactly the planned
actions, one function per step kind. The journal supplies what the world cannot tell: which
version is being released, what it replaces, what the gates said, why a release is held.

A release of V:  pre-flight (secrets) -> [backup -> migrate] -> deploy V to staging -> health gate
-> smoke test staging -> canary 10% -> bake -> 50% -> bake -> promote (swap, then at once weights
back to stable) -> smoke test production -> verify bake -> promoted.

States (releases/model.py ReleaseState): in flight at N%; held (a gate failed with --hold or past
an irreversible migration, evidence inconclusive, health failed before traffic, interrupted);
promoted; rolled back; aborted (closed at 0% for a newer version); abandoned (sandbox torn down).
From every state `release` or `rollback` moves on.

Safety under faults:
- Each command holds the release lock for its whole run (`auto` too: it walks one release, bound to
  its id, and never starts another). The lock's fencing token is checked by every journal write,
  and every action is journaled before it runs, so a holder that lost the lock stops before it
  changes anything more; between writes it checks every analysis interval.
- `rollback` takes the lock over from a running release (journaled with both holders).
- SIGINT/SIGTERM: the interruption is journaled, the release held, the lock released, and the
  operator told where traffic is and how to go on (exit 130/143).

Every state change is journaled and announced through the notifier; an announcement that fails is
journaled and changes nothing else (releases/notify.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from releases import deployment_log, gates, runbook, signals
from releases.controls import Control, ControlInbox, ControlRequest
from releases.errors import (
    BadInput,
    GateFailed,
    Held,
    Interrupted,
    JournalUnavailable,
    Refused,
    Superseded,
    TargetUnavailable,
    Terminated,
    VerificationFailed,
)
from releases.gates import BakeResult, Interjection, Progress, StepReport, Verdict
from releases.journal import EventKind, Journal, Note
from releases.live_figures import BakeFigures, PublishingProgress
from releases.lock import LockHolder, ReleaseLock, current_holder
from releases.model import HoldReason, LiveState, Migration, Outcome, Pool, ReleaseRecord, SlotHealth, Weights
from releases.notify import Notice, Notifier, Silent
from releases.plan import Action, Step, plan_rollback, plan_step
from releases.release_log import ReleaseLog
from releases.settings import EnvironmentSettings
from releases.targets.bundle import Targets
from releases.targets.slots.image_tags import check_version

__all__ = ["Action", "Engine", "Result", "Status", "Step", "validate_percent"]


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


@dataclass
class _Run:
    """What an interruption needs to know: the release and the action under way."""

    lock: ReleaseLock
    record: ReleaseRecord | None = None
    action: Action | None = None
    rolling_back: bool = False


def _checked_version(version: str | None, image: str | None) -> tuple[str | None, str | None]:
    """The version by the one rule (releases/targets/slots/image_tags.py) for every environment: its tag,
    and the image to deploy when it names a digest (`2.0.0@sha256:...`)."""
    if version is None:
        return None, image
    tag, digest = check_version(version)
    return tag, version if digest is not None else image


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
        # The traffic split as last read or written, for announcements and for saying where traffic
        # is after an interruption (no extra router reads).
        self._weights: Weights | None = None
        # While a command holds the lock: the operators' controls journaled since (releases/
        # controls.py), the last promote it acted on, and the steps an --auto walk has left.
        self._inbox: ControlInbox | None = None
        self._promotion: ControlRequest | None = None
        self._walk: list[int] | None = None

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

    def status(self, live: LiveState | None = None) -> Status:
        """The live state (observed now unless given), the release (not one abandoned with a
        torn-down sandbox) and the lock."""
        latest = self.journal.latest_release(self.environment, self.service)
        return Status(
            environment=self.environment,
            service=self.service,
            live=live or self.observe(),
            release=latest if latest is not None and latest.outcome is not Outcome.ABANDONED else None,
            lock=current_holder(self.journal, self.environment, self.service),
        )

    # -- commands --------------------------------------------------------------------------------

    def release(
        self,
        percent: int,
        version: str | None = None,
        hold: bool = False,
        dry_run: bool = False,
        migration: Migration | None = None,
        force: bool = False,
        reason: str | None = None,
        image: str | None = None,
    ) -> Result:
        """Move the release to `percent` (100 promotes). Idempotent; resumes from the live state.
        `migration` declares, on the first step, that the release runs a migration first; `image`
        pins the version by digest (`2.0.0@sha256:...`), deployed exactly so. Promoting when the
        current step's gate did not pass needs `force` and a `reason`."""
        validate_percent(percent)
        version, image = _checked_version(version, image)
        if force and not (reason or "").strip():
            raise BadInput('--force needs --reason "why" (it is journaled with the release)')
        if dry_run:
            return self._dry_run([percent], version, migration, force)[-1]
        with self._command() as run:
            result = self._step(run, percent, version, hold, migration, force, reason, image=image)
            if percent < 100 and result.release is not None and self._full_promotion():
                # `invoke promote --full` during this step: straight on to promotion, in this command.
                promoted = self._skip_to_promotion(run, result.release, hold, reason, image)
                return Result(
                    result.actions + promoted.actions, promoted.release, True, result.bakes + promoted.bakes
                )
            return result

    def auto(
        self,
        version: str | None,
        hold: bool = False,
        dry_run: bool = False,
        migration: Migration | None = None,
        reason: str | None = None,
        image: str | None = None,
    ) -> list[Result]:
        """Walk the configured steps with their gates, from wherever the release is now. One lock
        for the whole walk, one release: if it ends under this command (rolled back from another
        shell), the walk stops; it never starts a new release."""
        version, image = _checked_version(version, image)
        if dry_run:
            live = self.observe()
            target, _ = self._target_version(live, version, dry_run=True)
            return self._dry_run(
                self._remaining_steps(live, target), target, migration, False, self.settings.approvals
            )
        with self._command() as run:
            live = self.observe()
            target, record = self._target_version(live, version, dry_run=True)
            results: list[Result] = []
            steps = self._remaining_steps(live, target)
            for index, step in enumerate(steps):
                self._walk = steps[index + 1 :]
                bound = run.record.id if run.record is not None else record.id if record else None
                approve = step in self.settings.approvals and bool(self._walk)
                result = self._step(run, step, target, hold, migration, False, reason, bound, image, approve)
                results.append(result)
                # promote --full with canary steps left skips them (journaled); with only the
                # promotion left the walk simply goes on to it.
                canary_left = any(later < 100 for later in self._walk)
                if canary_left and result.release is not None and self._full_promotion():
                    results.append(self._skip_to_promotion(run, result.release, hold, reason, image))
                    break
            return results

    def _full_promotion(self) -> bool:
        return self._promotion is not None and self._promotion.full

    def _skip_to_promotion(
        self, run: _Run, record: ReleaseRecord, hold: bool, reason: str | None, image: str | None
    ) -> Result:
        """`promote --full`: the steps left are journaled as skipped, then the promotion runs (the
        step the operator ended is what it follows: its gate event names the promote)."""
        request = self._promotion
        assert request is not None
        # The walk's steps left; for a one-step command, the configured ones past this step.
        later = self._walk
        if later is None:
            later = [step for step in self.settings.percents if step > (record.last_percent or 0)]
        skipped = [step for step in later if step < 100]
        self.journal.record(
            self.environment,
            self.service,
            EventKind.NOTE,
            Note.STEPS_SKIPPED,
            record.id,
            skipped=skipped,
            at_percent=record.last_percent,
            by=request.operator,
            reason=request.reason,
        )
        self.progress.state(
            f"{request.describe()}: skipping {', '.join(f'{s}%' for s in skipped) or 'no step'}; promoting"
        )
        self._walk = []
        return self._step(run, 100, record.version, hold, None, False, reason, record.id, image)

    def rollback(
        self, dry_run: bool = False, past_migration: bool = False, reason: str | None = None
    ) -> Result:
        """Put production back on the previous version and all traffic on stable, from any shell:
        a release running elsewhere is taken over (its process stops at its next check). Past an
        irreversible migration only with `past_migration` (the operator restored the database)."""
        if dry_run:
            live = self.observe()
            record = self._rollback_target()
            holder = current_holder(self.journal, self.environment, self.service)
            takeover = f"; it would take the lock over from {holder.describe()}" if holder else ""
            return Result(
                plan_rollback(live, record),
                record,
                executed=False,
                message=f"dry run: nothing was changed{takeover}",
            )
        with self._command(takeover=True) as run:
            run.rolling_back = True
            record = self._rollback_target()
            run.record = record
            # Before promotion the previous version still serves most users on the migrated schema:
            # moving the canary's share back is safe. After it, going back means a restore.
            promoted = self.observe().production.version == record.version
            restore = self._applied_irreversible_migration(record) if promoted else None
            if restore is not None and not past_migration:
                raise Refused(
                    f"{record.version} ran an irreversible migration; {record.previous_version} may not "
                    f"run on the migrated schema. Restore the database first:\n{restore}\nthen "
                    "`invoke rollback --past-migration`. Nothing was changed"
                )
            actions = self._roll_back(run, record, reason)
            previous = run.lock.previous
            message = ""
            if previous is not None:
                message = (
                    f"took the lock over from {previous.describe()}; that command stops at its next "
                    f"check. Rolled back: production serves {record.previous_version}"
                )
            return Result(actions, record, executed=True, message=message)

    # -- one command's lock, interruption and fencing ----------------------------------------------

    @contextmanager
    def _command(self, takeover: bool = False) -> Iterator[_Run]:
        lock = ReleaseLock(
            self.journal, self.environment, self.service, self.settings.lease_seconds, takeover
        )
        # Only controls journaled from now on are this command's (never an old request). Read before
        # the lock is taken, so that none accepted while it is being taken is lost.
        since = self.journal.last_seq()
        with lock:
            run = _Run(lock)
            self._inbox = ControlInbox(self.journal, self.environment, self.service, since)
            self._promotion, self._walk = None, None
            try:
                yield run
            except (KeyboardInterrupt, Terminated) as interruption:
                with signals.deferred():
                    message = self._interrupted(run, interruption)
                raise Interrupted(message, signals.exit_code(interruption)) from None
            finally:
                self._inbox, self._walk = None, None

    def _guarded_sleep(self, seconds: float) -> None:
        """The gates' sleep: after each wait, check that this command still holds the lock, so a
        takeover (rollback from another shell) stops it within one interval."""
        self.sleep(seconds)
        self.journal.check_fence()

    def _interrupted(self, run: _Run, interruption: BaseException) -> str:
        """Journal the interruption, hold the release and release the lock; say where traffic is
        and what next."""
        name = signals.signal_name(interruption)
        action = run.action
        during = f" during {action.step.label} ({action.description})" if action else ""
        record = run.record
        lines = [f"interrupted by {name}{during}."]
        if record is not None and record.in_flight:
            try:
                self.journal.record(
                    self.environment,
                    self.service,
                    EventKind.NOTE,
                    Note.INTERRUPTED,
                    record.id,
                    signal=name,
                    step=action.step if action else None,
                    percent=record.last_percent,
                )
                if not run.rolling_back:
                    self.journal.hold(record, HoldReason.INTERRUPTED, f"{name}{during}")
                lines.append("Journaled.")
            except (Superseded, JournalUnavailable) as error:
                lines.append(f"Not journaled: {error}.")
        try:
            run.lock.release()
            lines.append("The lock is released.")
        except (Superseded, JournalUnavailable) as error:
            lines.append(
                f"The lock was not released ({error}); it ends with its lease, within "
                f"{self.settings.lease_seconds:g} s."
            )
        weights = self._weights
        if weights is not None:
            where = f"Traffic: {weights} ({weights.canary_share:.0%} on the canary"
            if record is not None:
                where += f", {record.version}"
            lines.append(where + ").")
        if action is not None and action.step in (Step.WEIGHTS, Step.PROMOTE, Step.SWAP_BACK):
            lines.append(
                "The interrupted write may or may not have landed: `invoke status` shows the live state."
            )
        if record is None:
            lines.append("Nothing was changed.")
        elif run.rolling_back:
            lines.append("Rerun `invoke rollback` to finish rolling back.")
        else:
            percent = record.last_percent or (self.settings.percents[0])
            lines.append(
                f"Ways on: `invoke release --percent {percent}` resumes the step (its bake starts again), "
                f"or `invoke rollback` returns all traffic to {record.previous_version}."
            )
        return " ".join(lines)

    # -- one step of a release -------------------------------------------------------------------

    def _dry_run(
        self,
        steps: list[int],
        version: str | None,
        migration: Migration | None,
        force: bool,
        approvals: frozenset[int] = frozenset(),
    ) -> list[Result]:
        """The plans of `steps` as the real command would run them, each planned from the state
        the one before leaves (gates assumed to pass), and every refusal the real command would
        give: the lock held, a promotion no gate has judged, a missing secret, a migration that
        cannot run. Reads only."""
        live = self.observe()
        holder = current_holder(self.journal, self.environment, self.service)
        if holder is not None and not holder.is_stale():
            raise Refused(
                f"a release of {self.service} in {self.environment} is in progress: lock held by "
                f"{holder.describe()}; the real command would be refused (dry run, nothing changed)"
            )
        results: list[Result] = []
        for percent in steps:
            validate_percent(percent)
            if done := self._already_promoted(live, percent, version):
                return [*results, done]
            target, active = self._target_version(live, version, dry_run=True)
            declared = self._migration(active, migration)
            pending = not results and self._migration_pending(active, declared)
            actions = plan_step(live, target, percent, self.settings, pending, percent in approvals)
            if not results and any(action.step is Step.PROMOTE for action in actions):
                self._refuse_unjudged_promotion(active, live, force, None, dry_run=True)
            if any(action.step is Step.PREFLIGHT for action in actions):
                self.targets.slots.preflight()
                required = self.settings.required_secrets.get(self.service, ())
                if pending:
                    self._migration_prerequisites()
                    required = (*required, self.settings.migrations.database_url_secret)
                runbook.check_secrets(
                    self.targets.secrets, tuple(dict.fromkeys(required)), self.targets.slots
                )
            results.append(Result(actions, active, executed=False))
            if percent == 100:
                break
            live = LiveState(
                Weights.canary_percent(percent),
                live.production,
                SlotHealth(live.staging.name, target, True, True),
                True,
            )
            version = target
        return results

    def _step(
        self,
        run: _Run,
        percent: int,
        version: str | None,
        hold: bool,
        migration: Migration | None,
        force: bool,
        reason: str | None,
        release_id: str | None = None,
        image: str | None = None,
        approve: bool = False,
    ) -> Result:
        live = self.observe()
        if done := self._already_promoted(live, percent, version):
            return done
        target, record = self._target_version(live, version, release_id=release_id)
        run.record = record
        migration = self._migration(record, migration)
        pending = self._migration_pending(record, migration)
        actions = plan_step(live, target, percent, self.settings, pending, approve)
        if any(action.step is Step.PROMOTE for action in actions):
            self._refuse_unjudged_promotion(record, live, force, reason)
        self.targets.slots.preflight()
        preflight = next((action for action in actions if action.step is Step.PREFLIGHT), None)
        if preflight is not None:
            run.action = preflight
            self._preflight(record, preflight, migration_pending=pending)
        if record is None:
            record = self.journal.start_release(
                self.environment,
                self.service,
                target,
                previous_version=live.production.version,
                migration=migration,
                reason=reason,
            )
            run.record = record
            if image is not None and image != target:
                self.journal.record(
                    self.environment, self.service, EventKind.NOTE, Note.IMAGE, record.id, image=image
                )
        self.journal.resume(record)
        if preflight is not None:
            self._outcome(record, preflight)
        if force and any(action.step is Step.PROMOTE for action in actions):
            self.journal.record(
                self.environment,
                self.service,
                EventKind.NOTE,
                Note.FORCED,
                record.id,
                reason=reason,
                percent=record.last_percent or 0,
            )
        bakes = self._execute(run, record, actions, hold)
        if percent == 100:
            self._finish(record, Outcome.PROMOTED)
        return Result(actions, record, executed=True, bakes=bakes)

    def _remaining_steps(self, live: LiveState, target: str) -> list[int]:
        if live.production.version == target:
            return [100]
        current = round(live.weights.canary_share * 100) if live.staging.version == target else 0
        return [step for step in self.settings.percents if step >= current]

    def _target_version(
        self, live: LiveState, version: str | None, release_id: str | None = None, dry_run: bool = False
    ) -> tuple[str, ReleaseRecord | None]:
        latest = self.journal.latest_release(self.environment, self.service)
        if release_id is not None and (latest is None or latest.id != release_id or not latest.in_flight):
            bound = self.journal.release(release_id)
            state = bound.describe_state() if bound else "gone"
            raise Refused(
                f"the release {release_id} ended under this command ({state}); it is not restarted. "
                "See `invoke status`"
            )
        active = latest if latest is not None and latest.in_flight else None
        if active is not None and version is not None and version != active.version:
            if not self._untouched_by_traffic(active, live):
                raise Refused(
                    f"the release of {active.version} to {self.service} in {self.environment} is "
                    f"{active.describe_state()}; finish it or `invoke rollback` before releasing {version}"
                )
            if not dry_run:  # it never reached users: close it for the newer version
                self.journal.finish(active, Outcome.ABORTED, superseded_by=version)
                self._announce(active, f"release aborted for {version} (it never took traffic)")
            active = None
        if active is not None:
            return active.version, active
        if version is None:
            raise BadInput(
                f"no release of {self.service} is in flight in {self.environment}: the first step needs "
                "--version V (the version to put on the staging slot)"
            )
        if live.production.version == version:
            raise Refused(f"production already serves {version}; nothing to release")
        return version, None

    @staticmethod
    def _untouched_by_traffic(record: ReleaseRecord, live: LiveState) -> bool:
        """A release that never took user traffic: no weight step journaled, none live, and
        production still serves what it served before."""
        return (
            not record.last_percent and live.weights.canary == 0 and live.production.version != record.version
        )

    def _refuse_unjudged_promotion(
        self,
        record: ReleaseRecord | None,
        live: LiveState,
        force: bool,
        reason: str | None,
        dry_run: bool = False,
    ) -> None:
        """Promotion follows a step whose gate passed at the weights now live; anything else
        needs --force with a --reason."""
        current = round(live.weights.canary_share * 100)
        problem = None
        if record is None or current == 0:
            problem = "no canary step has run (no user traffic has judged this version)"
        else:
            last = ReleaseLog.read(self.journal, record).last_gate(Step.BAKE)
            if last is None or last.detail.get("percent") != current:
                problem = f"the {current}% step's gate never passed (its bake did not finish)"
            elif last.detail.get("verdict") != Verdict.PASS and not last.detail.get("ended_by"):
                # An operator's `invoke promote` ended that bake: the promotion is theirs, journaled.
                problem = f"the {current}% step's gate ended {last.detail.get('verdict')}"
        if problem is None or (force and (dry_run or reason)):
            return
        first = self.settings.percents[0]
        raise Refused(
            f"--percent 100: {problem}. Run the step (`invoke release --percent "
            f'{current or first}`), or promote anyway with --force --reason "why". Nothing was changed'
        )

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
        return not ReleaseLog.read(self.journal, record).outcomes(Step.MIGRATE)

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

    def _rollback_target(self) -> ReleaseRecord:
        record = self.journal.latest_release(self.environment, self.service)
        if record is None or record.outcome not in (None, Outcome.PROMOTED):
            last = f" (the last release, {record.version}, is {record.describe_state()})" if record else ""
            raise Refused(f"nothing to roll back for {self.service} in {self.environment}{last}")
        return record

    # -- the executor: one function per step kind --------------------------------------------------

    def _execute(
        self, run: _Run, record: ReleaseRecord, actions: list[Action], hold: bool
    ) -> list[BakeResult]:
        handlers: dict[Step, Callable[[ReleaseRecord, Action, bool], BakeResult | None]] = {
            Step.BACKUP: self._back_up,
            Step.MIGRATE: self._migrate,
            Step.DEPLOY: self._deploy,
            Step.HEALTH: self._health,
            Step.SMOKE: self._smoke,
            Step.WEIGHTS: self._set_weights,
            Step.BAKE: self._canary_bake,
            Step.PROMOTE: self._promote,
            Step.VERIFY: self._verify,
            Step.APPROVE: self._await_approval,
        }
        bakes = []
        for action in actions:
            if action.step is Step.PREFLIGHT:
                continue  # ran before the release was journaled
            run.action = action
            result = handlers[action.step](record, action, hold)
            if result is not None:
                bakes.append(result)
        run.action = None
        return bakes

    def _journal_action(
        self, kind: EventKind, record: ReleaseRecord | None, action: Action, **detail: object
    ) -> None:
        self.journal.record(
            self.environment,
            self.service,
            kind,
            action.step,
            record.id if record else None,
            description=action.description,
            percent=action.percent,
            **detail,
        )

    def _intent(self, record: ReleaseRecord | None, action: Action) -> None:
        """Journaled before the action; the journal's fence check makes this the last moment a
        holder that lost the lock can be stopped before it acts."""
        self._journal_action(EventKind.INTENT, record, action)
        if action.step not in (Step.HEALTH, Step.BAKE, Step.VERIFY, Step.APPROVE):  # they report themselves
            self.progress.state(action.description)

    def _outcome(self, record: ReleaseRecord | None, action: Action, **detail: object) -> None:
        self._journal_action(EventKind.OUTCOME, record, action, **detail)
        self._announce(record, f"done: {action.description}", detail=str(detail.get("undone", "")))

    def _gate(
        self,
        record: ReleaseRecord,
        action: Action,
        verdict: str,
        reasons: list[str],
        subject: str | None = None,
        **figures: object,
    ) -> None:
        self.journal.record(
            self.environment,
            self.service,
            EventKind.GATE,
            action.step,
            record.id,
            percent=action.percent,
            verdict=verdict,
            reasons=reasons,
            **figures,
        )
        self._announce(record, f"gate on {subject or action.description}", verdict, "; ".join(reasons))

    def _deploy(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        """The version as journaled: pinned by digest when the release named one (the slots then
        run exactly that image, and still report the version's tag)."""
        pinned = ReleaseLog.read(self.journal, record).notes(Note.IMAGE)
        self._intent(record, action)
        self.targets.slots.deploy_staging(str(pinned[-1].detail["image"]) if pinned else record.version)
        self._outcome(record, action)

    def _health(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        self._intent(record, action)
        try:
            gates.wait_until_serving(
                self.targets.slots,
                self.targets.router,
                record.version,
                self.settings.health,
                self.progress,
                self.clock,
                self._guarded_sleep,
            )
        except TargetUnavailable:
            raise
        except Refused as failure:
            self._gate(record, action, Verdict.FAIL, [str(failure)])
            if action.percent:  # users already reach the canary: a failed gate like any other
                self._gate_failed(record, action, (f"staging health: {failure}",), hold)
            self.journal.hold(record, HoldReason.HEALTH_FAILED, str(failure))
            raise GateFailed(
                f"{failure}. No user traffic reaches {record.version}: the release is held at 0%. Fix the "
                f"slot and rerun `invoke release --percent N`, release another version (this one is then "
                "aborted), or `invoke rollback`"
            ) from None
        self._outcome(record, action)

    def _set_weights(self, record: ReleaseRecord | None, action: Action, hold: bool = False) -> None:
        assert action.weights is not None
        self._intent(record, action)
        self.targets.router.write_weights(action.weights)
        self._verify_weights(action.weights)
        self._weights = action.weights
        if record is not None and action.percent:  # the furthest step reached; a rollback keeps it
            self.journal.set_percent(record, action.percent)
        self._outcome(record, action, weights=str(action.weights))

    def _verify_weights(self, expected: Weights) -> None:
        observed = self.targets.router.read_weights()
        if not observed.matches(expected):
            raise VerificationFailed(f"weights read back as {observed} after writing {expected}")

    def _verify_slots(self, production: str | None, staging: str | None) -> None:
        """What each slot serves after a swap. A slot that does not answer at all (a dead process)
        is not a failed swap: the swap moved addresses, and the health of what serves users is the
        gates' business; a slot answering with the wrong version is."""
        observed_production, observed_staging = self.targets.slots.probe()
        wrong_production = production and observed_production.version != production
        wrong_staging = staging and observed_staging.version not in (staging, None)
        if wrong_production or wrong_staging:
            raise VerificationFailed(
                f"after the swap production serves {observed_production.version} and staging "
                f"{observed_staging.version}; expected {production} and {staging}"
            )

    def _bake(
        self,
        record: ReleaseRecord,
        action: Action,
        label: str,
        duration: float,
        pool: Pool,
        compare: bool,
        hold: bool,
    ) -> BakeResult:
        self._intent(record, action)
        self._promotion = None
        publishing = PublishingProgress(
            self.progress,
            lambda figures: self._publish(record, figures),
            self.clock,
            self.settings.analysis.interval_seconds,
            action.percent,
        )
        result = gates.bake(
            label,
            duration,
            pool,
            self.targets.metrics,
            self.settings.analysis,
            publishing,
            compare,
            self.clock,
            self._guarded_sleep,
            _OperatorControls(self._inbox, lambda request: self._on_control(record, action, request)),
        )
        last = result.analyses[-1] if result.analyses else None
        ended_by = self._promotion.describe() if result.ended_by_operator and self._promotion else None
        self._gate(
            record,
            action,
            result.verdict.value,
            list(result.reasons),
            subject=label,
            analyses=len(result.analyses),
            requests=last.judged.requests if last else None,
            error_rate=last.judged.error_rate if last else None,
            p95_seconds=last.judged.p95_seconds if last else None,
            p_value=last.p_value if last else None,
            bake_seconds=duration,
            paused_seconds=round(result.paused_seconds, 3) or None,
            ended_by=ended_by,
        )
        log = deployment_log.path_for(record, self.reports_dir) if self.reports_dir else None
        next_step = self._next_step(action, result, hold)
        self.progress.step_ended(StepReport(label, result, next_step, str(log) if log else None, ended_by))
        return result

    def _publish(self, record: ReleaseRecord, figures: BakeFigures) -> None:
        """A running bake's figures for `status --watch` (bounded by PublishingProgress)."""
        self.journal.record(
            self.environment, self.service, EventKind.NOTE, Note.BAKE_PROGRESS, record.id, **figures.detail()
        )

    def _next_step(self, action: Action, result: BakeResult, hold: bool) -> str:
        """What happens after a bake, in the operator's words."""
        percent = action.percent or 0
        if result.verdict is Verdict.FAIL:
            return "hold as asked (--hold): traffic unchanged" if hold else "roll back: all traffic to stable"
        if result.verdict is Verdict.INCONCLUSIVE and not result.ended_by_operator:
            retry = 100 if action.step is Step.VERIFY else percent
            return (
                f"hold: traffic unchanged; `invoke release --percent {retry}` bakes again, "
                "`invoke rollback` ends the release"
            )
        if action.step is Step.VERIFY:
            return "the release is promoted"
        if self._full_promotion():
            return "promotion at once (promote --full): swap, then all traffic to stable"
        if percent in self.settings.approvals and self._walk:
            return "wait for approval: `invoke promote` (from any shell) goes on, `invoke rollback` ends it"
        if self._walk is None:  # one step: the operator runs the next
            later = [step for step in self.settings.percents if step > percent]
            step = later[0] if later else 100
            verb = "promotes" if step == 100 else "goes on"
            return f"`invoke release --percent {step}` {verb} (or `--auto` walks the rest)"
        upcoming = self._walk[0] if self._walk else 100
        return "promotion: swap, then all traffic to stable" if upcoming == 100 else f"the {upcoming}% step"

    def _on_control(
        self, record: ReleaseRecord, action: Action, request: ControlRequest
    ) -> Interjection | None:
        """A control journaled from another shell, acted on by this (running, fenced) command."""
        where = f"{action.percent}%" if action.step is Step.BAKE else "production verification"
        if request.control is Control.PAUSE:
            if record.hold is not HoldReason.PAUSED:
                self.journal.hold(
                    record,
                    HoldReason.PAUSED,
                    request.describe(),
                    percent=action.percent,
                    by=request.operator,
                    why=request.reason,
                )
                self._announce(record, f"paused at {where}", detail=request.describe())
                self.progress.state(
                    f"paused at {where} ({request.describe()}): the bake clock stopped; "
                    "`invoke resume` goes on, `invoke promote` ends the step"
                )
            return Interjection.PAUSE
        if request.control is Control.RESUME:
            if record.hold is not HoldReason.PAUSED:
                return None
            self.journal.resume(record, by=request.operator, reason=request.reason)
            self._announce(record, f"resumed at {where}", detail=request.describe())
            self.progress.state(
                f"resumed at {where} ({request.describe()}): the bake goes on where it stopped"
            )
            return Interjection.RESUME
        if self._stale_promote(record, request):
            return None
        if record.hold is HoldReason.PAUSED:  # promote ends a paused step too
            self.journal.resume(record, by=request.operator, reason=request.reason)
        self._promotion = request
        self.progress.state(f"{request.describe()}: the {where} bake ends now")
        return Interjection.END

    def _stale_promote(self, record: ReleaseRecord, request: ControlRequest) -> bool:
        """A promote asked at an earlier step than the release is at now (it arrived after that
        step's bake had ended): applying it would end this step unjudged, which nobody asked for.
        Journaled, so the operator's command says so, and otherwise ignored."""
        if request.percent is None or request.percent == record.last_percent:
            return False
        self.journal.record(
            self.environment,
            self.service,
            EventKind.NOTE,
            Note.PROMOTE_STALE,
            record.id,
            asked_at=request.percent,
            now_at=record.last_percent,
            by=request.operator,
        )
        self.progress.state(
            f"{request.describe()} was asked at {request.percent}% and arrived after that step ended; "
            f"the {record.last_percent}% step is judged as usual"
        )
        return True

    def _await_approval(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        """An `approve` step: held, traffic unchanged, until `invoke promote` from any shell (or a
        rollback takes the lock over). Pause and resume change nothing here."""
        assert self._inbox is not None
        self._intent(record, action)
        self.journal.hold(
            record, HoldReason.APPROVAL, f"after the {action.percent}% step", percent=action.percent
        )
        self._announce(record, f"waiting for approval at {action.percent}%")
        self.progress.state(
            f"waiting for approval at {action.percent}%: `invoke promote` (from any shell) goes on, "
            "`invoke rollback` ends the release"
        )
        while True:
            promote = next(
                (
                    r
                    for r in self._inbox.poll()
                    if r.control is Control.PROMOTE and not self._stale_promote(record, r)
                ),
                None,
            )
            if promote is not None:
                break
            self._guarded_sleep(self.settings.analysis.interval_seconds)
        self._promotion = promote
        self.journal.resume(record, by=promote.operator, reason=promote.reason)
        self.progress.state(f"approved at {action.percent}% ({promote.describe()})")
        self._outcome(record, action, approved_by=promote.operator, reason=promote.reason, full=promote.full)

    def _canary_bake(self, record: ReleaseRecord, action: Action, hold: bool) -> BakeResult:
        result = self._bake(
            record,
            action,
            f"canary {action.percent}%",
            self.settings.bake_seconds,
            Pool.CANARY,
            compare=True,
            hold=hold,
        )
        if result.ended_by_operator:  # `invoke promote`: the operator moves on, journaled with the gate
            return result
        if result.verdict is Verdict.FAIL:
            self._gate_failed(record, action, result.reasons, hold)
        elif result.verdict is not Verdict.PASS:
            self._held_inconclusive(record, action, result)
        return result

    def _verify(self, record: ReleaseRecord, action: Action, hold: bool) -> BakeResult:
        self._verify_slots(record.version, None)
        result = self._bake(
            record,
            action,
            f"production {record.version}",
            self.settings.verify_seconds,
            Pool.STABLE,
            compare=False,
            hold=hold,
        )
        if result.ended_by_operator:
            return result
        if result.verdict is Verdict.FAIL:
            self._gate_failed(record, action, result.reasons, hold)
        elif result.verdict is not Verdict.PASS:  # not promoted until production is judged
            self._held_inconclusive(record, action, result)
        return result

    def _held_inconclusive(self, record: ReleaseRecord, action: Action, result: BakeResult) -> None:
        """The evidence stayed too thin to judge until the step's deadline: never move on (and
        after the swap, never call the release promoted). Traffic stays as it is."""
        reasons = "; ".join(result.reasons) or "no analysis could judge the canary"
        promoted = action.step is Step.VERIFY
        where = "after promotion" if promoted else f"at {action.percent}%"
        self.journal.hold(record, HoldReason.GATE_INCONCLUSIVE, reasons, percent=action.percent)
        self._announce(record, f"held {where}: gate inconclusive", Verdict.INCONCLUSIVE, reasons)
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
            self.journal.record(
                self.environment,
                self.service,
                EventKind.NOTE,
                Note.REFUSED,
                record.id if record else None,
                step=action.step,
                refused=str(error),
            )
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

    def _back_up(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        assert self.targets.database is not None
        self._intent(record, action)
        backup = self.targets.database.backup(
            f"before-{record.id}", self.settings.migrations.backup_timeout_seconds
        )
        self._outcome(
            record,
            action,
            location=backup.location,
            size_bytes=backup.size_bytes,
            verified=backup.verification,
            restore=backup.restore_procedure,
        )

    def _migrate(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        assert self.targets.secrets is not None
        self._intent(record, action)
        url = self.targets.secrets.value(self.settings.migrations.database_url_secret)
        try:
            run = runbook.run_migration(self.settings.migrations, url, record.version, self.targets.secrets)
        except GateFailed as error:
            self._gate(record, action, Verdict.FAIL, [str(error)])
            raise
        self._outcome(
            record,
            action,
            seconds=round(run.seconds, 3),
            output=run.output,
            migration=record.migration.value if record.migration else None,
        )

    def _smoke(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        staging = action.percent != 100
        self._intent(record, action)
        reasons = runbook.smoke_test(self.targets.slots, self.settings.smoke, staging, self.targets.secrets)
        self._gate(record, action, Verdict.FAIL if reasons else Verdict.PASS, reasons)
        if not reasons:
            return
        if staging:
            self.journal.hold(record, HoldReason.GATE_FAILED, "smoke tests failed on the staging slot")
            raise GateFailed(
                f"smoke tests failed on the staging slot: {'; '.join(reasons)}. No traffic was moved; "
                f"fix and rerun, or `invoke rollback` to close the release of {record.version}"
            )
        self._gate_failed(record, action, tuple(reasons), hold)

    def _applied_irreversible_migration(self, record: ReleaseRecord) -> str | None:
        """The restore procedure when `record` ran an irreversible migration, else None."""
        if record.migration is not Migration.IRREVERSIBLE:
            return None
        log = ReleaseLog.read(self.journal, record)
        if not log.outcomes(Step.MIGRATE):
            return None
        backups = log.outcomes(Step.BACKUP)
        return str(backups[-1].detail.get("restore", "")) if backups else "(no backup was journaled)"

    def _promote(self, record: ReleaseRecord, action: Action, hold: bool) -> None:
        """The swap and the weights reset back to back, read back after both: the moment between
        the two writes is the only one where canary traffic can meet the previous version (now on
        the staging slot), so nothing, not even a read or a journal write, is allowed into it. One
        intent covers both, so the fence is checked once, right before."""
        reset = action.weights
        self._intent(record, action)
        with signals.postponed():  # Ctrl-C between the two writes would strand canary users
            self.targets.slots.swap()
            if reset is not None:
                try:
                    self.targets.router.write_weights(reset)
                except TargetUnavailable as error:
                    self._undo_swap(record, action, error)
                self._weights = reset
        self._verify_slots(record.version, record.previous_version)
        if reset is not None:
            self._verify_weights(reset)
        self.journal.set_percent(record, 100)
        self._outcome(record, action, weights=str(reset) if reset else None)

    def _undo_swap(self, record: ReleaseRecord, action: Action, error: TargetUnavailable) -> None:
        """The router refused the weights reset right after the swap (blocked, unreachable): swap
        back, so canary traffic does not keep reaching the previous version on the staging slot and
        nothing is left half-applied."""
        self.targets.slots.swap()
        self._verify_slots(record.previous_version, record.version)
        self._outcome(record, action, undone=f"the weights reset failed: {error}")
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
            self.journal.hold(record, HoldReason.GATE_FAILED, reasons)
            raise GateFailed(
                f"gate failed {where}: {reasons}. Holding as asked (--hold): traffic is unchanged; "
                "`invoke rollback` to undo"
            )
        restore = self._applied_irreversible_migration(record) if promoted else None
        if restore is not None:
            self.journal.hold(record, HoldReason.GATE_FAILED, f"irreversible migration; {reasons}")
            self._announce(record, "held: irreversible migration", Verdict.FAIL, reasons)
            raise GateFailed(
                f"gate failed {where}: {reasons}. NOT rolled back: {record.version} ran an irreversible "
                f"migration, and {record.previous_version} may not run on the migrated schema. Traffic "
                f"is unchanged. To go back, restore the database first:\n{restore}\nthen "
                "`invoke rollback --past-migration`"
            )
        self._roll_back(None, record, reason=f"gate failed {where}")
        raise GateFailed(
            f"gate failed {where}: {reasons}. Rolled back: production serves {record.previous_version}"
        )

    def _roll_back(self, run: _Run | None, record: ReleaseRecord, reason: str | None) -> list[Action]:
        live = self.observe()
        actions = plan_rollback(live, record)
        for action in actions:
            if run is not None:
                run.action = action
            if action.step is Step.SWAP_BACK:
                self._intent(record, action)
                self.targets.slots.swap()
                self._verify_slots(record.previous_version, record.version)
                self._outcome(record, action)
            else:
                self._set_weights(record, action)
        self._finish(record, Outcome.ROLLED_BACK, reason=reason)
        return actions

    # -- journal and team ------------------------------------------------------------------------

    def _finish(self, record: ReleaseRecord, outcome: Outcome, reason: str | None = None) -> None:
        self.journal.finish(record, outcome, reason=reason)
        self._announce(record, f"release {outcome.value}", detail=reason or "")
        if self.reports_dir is not None:
            try:
                written = {"path": str(deployment_log.write(self.journal, record, self.reports_dir))}
            except OSError as error:  # the release is done and journaled; its page can be rewritten
                written = {"failed": str(error)}
            self.journal.record(
                self.environment, self.service, EventKind.NOTE, Note.DEPLOYMENT_LOG, record.id, **written
            )

    def _announce(
        self, record: ReleaseRecord | None, state: str, verdict: str | None = None, detail: str = ""
    ) -> None:
        """Tell the team; a failure to is journaled, never raised (a rollback must go on)."""
        if record is None:
            return
        notice = Notice(
            self.environment,
            self.service,
            record.version,
            self.journal.operator,
            state,
            self._weights,
            verdict,
            detail,
        )
        failure = self.notifier.send(notice)
        if failure is not None:
            self.journal.record(
                self.environment,
                self.service,
                EventKind.NOTE,
                Note.NOTIFY,
                record.id,
                state=state,
                failed=failure,
            )


class _OperatorControls(gates.BakeControls):
    """What a bake asks at each look: the controls journaled since the last, each acted on."""

    def __init__(
        self, inbox: ControlInbox | None, act: Callable[[ControlRequest], Interjection | None]
    ) -> None:
        self.inbox, self.act = inbox, act

    def poll(self) -> list[Interjection]:
        requests = self.inbox.poll() if self.inbox is not None else []
        return [interjection for request in requests if (interjection := self.act(request)) is not None]
