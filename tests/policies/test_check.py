"""Judging a whole stack offline: verdicts per rule, what does not apply, unknown values."""

from __future__ import annotations

import functools
from collections.abc import Callable

from infra.offline import Plan, run_offline
from infra.program import build
from policies.check import PolicyReport, Status, check_plan
from policies.rules import RULES
from tests.conftest import PROJECT_DIR


@functools.cache
def _new_stack(stack: str) -> PolicyReport:
    return check_plan(run_offline(PROJECT_DIR, stack, build, new_stack=True), RULES, new_stack=True)


def test_production_only_rules_do_not_apply_to_staging(plan_of: Callable[[str], Plan]) -> None:
    report = check_plan(plan_of("staging"), RULES)
    not_applicable = {o.rule.id: o.reason for o in report.outcomes if o.status is Status.NOT_APPLICABLE}
    assert not_applicable == {
        "postgres-geo-redundant-backup": "production only",
        "postgres-zone-redundant-ha": "production only",
        "cloudwatch-log-retention-1-year": "production only",
        # The program declares no firewall rule: Postgres has private access only.
        "postgres-no-open-firewall-rule": "no resource of its types",
    }


def test_a_first_preview_reports_the_weights_it_cannot_see() -> None:
    """In a new stack, the pools' ids (the weights' keys) do not exist yet: the weights rule
    reports them unknown and blocks rather than pass. Every other rule reads known values."""
    report = _new_stack("production")
    assert [outcome.rule.id for outcome in report.blocking] == ["cloudflare-weights-in-range"]
    findings = report.blocking[0].findings
    assert [finding.resource.split(" ")[0] for finding in findings] == [
        "web-traffic-load-balancer",
        "api-traffic-load-balancer",
    ]
    assert all(finding.unknown and ".randomSteering.poolWeights" in finding.message for finding in findings)


def test_the_json_document_names_each_rule_and_unknown_findings() -> None:
    document = _new_stack("production").to_json()
    assert document["preview"] == "new stack"
    assert document["passed"] is False
    weights = next(rule for rule in document["rules"] if rule["id"] == "cloudflare-weights-in-range")
    assert weights["status"] == "violated"
    assert {violation["unknown"] for violation in weights["violations"]} == {True}
    assert document["mandatory_violations"] == 2
