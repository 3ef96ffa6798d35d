"""Judging a stack offline: every rule against the Pulumi program's resources under mocks.

The same `Rule.judge` runs here and inside `pulumi preview --policy-pack policies`; only where the
resources come from differs (the offline plan of infra/offline.py instead of the engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from infra.offline import Plan
from policies.rule import Context, Finding, Level, Resource, Rule


class Status(Enum):
    PASS = "pass"
    VIOLATED = "violated"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    status: Status
    checked: int  # resources the rule judged
    findings: list[Finding]
    reason: str = ""  # why it did not apply

    @property
    def blocking(self) -> bool:
        return self.status is Status.VIOLATED and self.rule.level is Level.MANDATORY

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.rule.id,
            "description": self.rule.description,
            "enforcement": self.rule.level.value,
            "reference": str(self.rule.reference) if self.rule.reference else None,
            "status": self.status.value,
            "resources_checked": self.checked,
            "violations": [finding.to_json() for finding in self.findings],
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    new_stack: bool
    outcomes: list[RuleOutcome]

    @property
    def blocking(self) -> list[RuleOutcome]:
        return [outcome for outcome in self.outcomes if outcome.blocking]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "preview": "new stack" if self.new_stack else "existing stack",
            "rules": [outcome.to_json() for outcome in self.outcomes],
            "mandatory_violations": sum(len(outcome.findings) for outcome in self.blocking),
            "passed": not self.blocking,
        }


def resources_of(plan: Plan) -> list[Resource]:
    return [
        Resource(r.type, r.name, r.urn, r.inputs, r.protect, r.property_dependencies) for r in plan.resources
    ]


def judge(rule: Rule, resources: Sequence[Resource], stack: str) -> RuleOutcome:
    if not rule.applies_in(stack):
        return RuleOutcome(rule, Status.NOT_APPLICABLE, 0, [], f"{' and '.join(rule.stacks)} only")
    subjects = rule.subjects(resources)
    if not subjects:
        return RuleOutcome(rule, Status.NOT_APPLICABLE, 0, [], "no resource of its types")
    findings = rule.judge(resources, Context(stack))
    return RuleOutcome(rule, Status.VIOLATED if findings else Status.PASS, len(subjects), findings)


def check_plan(plan: Plan, rules: Sequence[Rule], *, new_stack: bool = False) -> PolicyReport:
    resources = resources_of(plan)
    return PolicyReport(plan.stack, new_stack, [judge(rule, resources, plan.stack) for rule in rules])
