"""The planner: the exact actions a step runs, from the live state alone."""

from __future__ import annotations

import pytest

from releases.errors import Refused
from releases.model import LiveState, ReleaseRecord, SlotHealth, Weights
from releases.plan import Action, Step, plan_rollback, plan_step
from releases.settings import EnvironmentSettings

SETTINGS = EnvironmentSettings()


def live(production: str, staging: str, weights: Weights) -> LiveState:
    return LiveState(
        weights, SlotHealth("blue", production, True, True), SlotHealth("green", staging, True, True), True
    )


def steps(actions: list[Action]) -> list[Step]:
    return [action.step for action in actions]


def test_promotion_is_one_action_carrying_the_weights_reset() -> None:
    actions = plan_step(live("1.0.0", "2.0.0", Weights(0.5, 0.5)), "2.0.0", 100, SETTINGS)
    assert steps(actions) == [Step.HEALTH, Step.PROMOTE, Step.VERIFY]
    assert actions[1].weights == Weights.all_stable()
    assert actions[1].description == (
        "swap slots: production 1.0.0 -> 2.0.0, then at once weights stable=0.5 canary=0.5 -> "
        "stable=1 canary=0"
    )


def test_after_a_crash_between_the_two_writes_only_the_reset_is_left() -> None:
    actions = plan_step(live("2.0.0", "1.0.0", Weights(0.5, 0.5)), "2.0.0", 100, SETTINGS)
    assert steps(actions) == [Step.WEIGHTS, Step.VERIFY]


def test_the_first_step_starts_with_the_preflight_and_the_health_gate_knows_its_traffic() -> None:
    actions = plan_step(live("1.0.0", "1.0.0", Weights.all_stable()), "2.0.0", 10, SETTINGS)
    assert steps(actions) == [Step.PREFLIGHT, Step.DEPLOY, Step.HEALTH, Step.WEIGHTS, Step.BAKE]
    assert actions[2].percent == 0
    later = plan_step(live("1.0.0", "2.0.0", Weights(0.9, 0.1)), "2.0.0", 50, SETTINGS)
    assert later[0].step is Step.HEALTH and later[0].percent == 10


def test_shifting_weight_after_promotion_is_refused() -> None:
    with pytest.raises(Refused, match="already serves production"):
        plan_step(live("2.0.0", "1.0.0", Weights.all_stable()), "2.0.0", 50, SETTINGS)


def test_rollback_swaps_back_only_after_promotion() -> None:
    record = ReleaseRecord("r", "sandbox", "web", "2.0.0", "1.0.0", "alice", 0.0)
    assert steps(plan_rollback(live("1.0.0", "2.0.0", Weights(0.9, 0.1)), record)) == [Step.WEIGHTS]
    assert steps(plan_rollback(live("2.0.0", "1.0.0", Weights.all_stable()), record)) == [Step.SWAP_BACK]
    assert plan_rollback(live("1.0.0", "2.0.0", Weights.all_stable()), record) == []


def test_labels_are_derived_from_ids() -> None:
    assert Step.HEALTH.value == "health" and Step.HEALTH.label == "health gate"
    assert all(step.label for step in Step)
