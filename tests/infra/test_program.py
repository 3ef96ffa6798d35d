"""The whole program, per stack: what may differ between stacks, and what must never leak."""

from __future__ import annotations

import json
from collections.abc import Callable

from infra.offline import SECRET, Plan
from infra.stack_files import OFFLINE_SECRET_PLACEHOLDER


def test_both_stacks_declare_the_same_components(plan_of: Callable[[str], Plan]) -> None:
    """The stacks differ in how many zone resources they have, never in what they are made of."""

    def components(plan: Plan) -> set[str]:
        return {r.parent for r in plan.resources}

    assert components(plan_of("staging")) == components(plan_of("production"))


def test_no_secret_value_appears_anywhere_in_the_plan(plan: Plan) -> None:
    text = json.dumps(plan.to_json())
    assert OFFLINE_SECRET_PLACEHOLDER not in text
    assert "InstrumentationKey=" not in text  # Application Insights connection string
    assert "postgresql://" not in text and "rediss://" not in text  # the URLs live in Key Vault only
    assert text.count(SECRET) >= 6  # ... and are there, masked: one per Key Vault secret


def test_outputs_are_plain_and_hold_no_secret(plan: Plan) -> None:
    assert plan.outputs
    for name, value in plan.outputs.items():
        assert SECRET not in json.dumps(value), f"output {name} holds a secret: do not export secrets"
        assert isinstance(value, str | dict) and value, f"output {name} is empty"
