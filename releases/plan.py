"""The planner: from the live state to the exact list of actions a command will run.

Pure functions of what was observed: no I/O, no clock. The engine prints this list and then its
executor runs exactly it, one function per step kind (releases/engine.py). A promotion is one
action (the swap and the weights reset back to back), the pre-flight an action like the others.

Steps are ids (`Step`, journaled as such); what people read is derived (`Step.label`, and each
action's description).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from releases.errors import Refused
from releases.model import LiveState, ReleaseRecord, Weights
from releases.settings import EnvironmentSettings


class Step(enum.StrEnum):
    PREFLIGHT = "preflight"
    BACKUP = "backup"
    MIGRATE = "migrate"
    DEPLOY = "deploy"
    HEALTH = "health"
    SMOKE = "smoke"
    WEIGHTS = "weights"
    BAKE = "bake"
    PROMOTE = "promote"
    SWAP_BACK = "swap-back"
    VERIFY = "verify"
    APPROVE = "approve"  # an `approve` step of the walk: held until `invoke promote`

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Step.PREFLIGHT: "pre-flight",
    Step.BACKUP: "backup",
    Step.MIGRATE: "migrate",
    Step.DEPLOY: "deploy",
    Step.HEALTH: "health gate",
    Step.SMOKE: "smoke test",
    Step.WEIGHTS: "set weights",
    Step.BAKE: "bake",
    Step.PROMOTE: "promote",
    Step.SWAP_BACK: "swap back",
    Step.VERIFY: "verify",
    Step.APPROVE: "approval",
}


@dataclass(frozen=True)
class Action:
    step: Step
    description: str
    weights: Weights | None = None  # WEIGHTS: what to write; PROMOTE: the reset after the swap
    percent: int | None = None  # the canary share the action runs at (0: before traffic)


def _percent(weights: Weights) -> int:
    return round(weights.canary_share * 100)


def plan_step(
    live: LiveState,
    version: str,
    percent: int,
    settings: EnvironmentSettings,
    migration_pending: bool = False,
    approve: bool = False,
) -> list[Action]:
    """The actions that take the live state to `percent` for `version`, and nothing more; with
    `approve`, a canary step ends by waiting for an operator's `invoke promote`."""
    actions: list[Action] = []
    promoted = live.production.version == version
    current = _percent(live.weights)
    before_traffic = not promoted and live.weights.canary == 0
    smoke = bool(settings.smoke.checks or settings.smoke.command)
    if percent < 100 and promoted:
        raise Refused(
            f"{version} already serves production (promoted); shifting canary weight now would send "
            "users to the previous version. Use `invoke release --percent 100` to finish or "
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
                f"staging reports healthy, ready and {version} {settings.health.consecutive} times in a row",
                percent=current,
            )
        )
        if before_traffic and smoke:
            actions.append(Action(Step.SMOKE, "smoke test the staging slot", percent=0))
    if percent < 100:
        target = Weights.canary_percent(percent)
        if not live.weights.matches(target):
            actions.append(Action(Step.WEIGHTS, f"weights {live.weights} -> {target}", target, percent))
        actions.append(
            Action(Step.BAKE, f"bake {settings.analysis.bake_seconds:g} s at {percent}%", percent=percent)
        )
        if approve:
            actions.append(
                Action(Step.APPROVE, f"wait at {percent}% for approval (`invoke promote`)", percent=percent)
            )
        return actions
    stable = Weights.all_stable()
    reset = None if live.weights.matches(stable) else stable
    if not promoted:
        then = f", then at once weights {live.weights} -> {stable}" if reset else ""
        actions.append(
            Action(
                Step.PROMOTE,
                f"swap slots: production {live.production.version} -> {version}{then}",
                reset,
                100,
            )
        )
    elif reset is not None:  # swapped, but the weights reset never happened (a crash between)
        actions.append(Action(Step.WEIGHTS, f"weights {live.weights} -> {stable}", stable, 100))
    if smoke:
        actions.append(Action(Step.SMOKE, "smoke test production", percent=100))
    actions.append(
        Action(
            Step.VERIFY,
            f"verify production serves {version}, bake {settings.verify_seconds:g} s",
            percent=100,
        )
    )
    return actions


def plan_rollback(live: LiveState, record: ReleaseRecord) -> list[Action]:
    """Production back on the previous version and all traffic on stable: a swap back only if the
    release was promoted, then one weights write (or nothing, where nothing is left to undo)."""
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
                f"({live.staging.detail or 'no answer'}); swapping back would send users to it. "
                f"Restart it (or release {record.previous_version} again), then `invoke rollback`"
            )
        actions.append(
            Action(Step.SWAP_BACK, f"swap slots: production {record.version} -> {record.previous_version}")
        )
    if not live.weights.matches(Weights.all_stable()):
        actions.append(
            Action(Step.WEIGHTS, f"weights {live.weights} -> {Weights.all_stable()}", Weights.all_stable(), 0)
        )
    return actions
