"""Monitoring and alert rules with the runbooks' thresholds."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from infra.offline import Plan
from infra.settings import SIZING, AlertThresholds
from infra.stack_files import load_stack_config
from tests.conftest import PROJECT_DIR


def test_application_insights_is_workspace_based(plan: Plan) -> None:
    insights = plan.one("azure-native:applicationinsights:Component").inputs
    workspace = plan.one("azure-native:operationalinsights:Workspace")
    assert workspace.name in insights["workspaceResourceId"]
    assert insights["ingestionMode"] == "LogAnalytics"


def test_log_retention_follows_the_sizing_table(plan_of: Callable[[str], Plan]) -> None:
    for stack in ("staging", "production"):
        workspace = plan_of(stack).one("azure-native:operationalinsights:Workspace").inputs
        assert workspace["retentionInDays"] == SIZING[stack].log_retention_days


def test_action_group_receivers_come_from_the_stack_file(plan_of: Callable[[str], Plan]) -> None:
    for stack in ("staging", "production"):
        configured = load_stack_config(PROJECT_DIR, stack).values["platform:alertEmails"]
        group = plan_of(stack).one("azure-native:monitor:ActionGroup").inputs
        assert [r["emailAddress"] for r in group["emailReceivers"]] == json.loads(configured)


def rule(plan: Plan, name: str) -> dict[str, object]:
    return plan.one("azure-native:monitor:ScheduledQueryRule", name).inputs


def test_5xx_rate_alert_fires_over_1_percent_for_5_minutes(plan: Plan) -> None:
    inputs = rule(plan, "alerts-http-5xx-rate")
    condition = inputs["criteria"]["allOf"][0]  # type: ignore[index]
    assert condition["threshold"] == 1.0
    assert condition["operator"] == "GreaterThan"
    assert condition["metricMeasureColumn"] == "failed_percent"
    assert "ScStatus >= 500" in condition["query"]
    assert inputs["windowSize"] == "PT5M"


def test_p95_alert_fires_over_500_ms(plan: Plan) -> None:
    condition = rule(plan, "alerts-p95-response-time")["criteria"]["allOf"][0]  # type: ignore[index]
    assert condition["threshold"] == 500
    assert "percentile(TimeTaken, 95)" in condition["query"]


def test_postgres_connection_alert_at_80_percent_of_max(plan_of: Callable[[str], Plan]) -> None:
    for stack in ("staging", "production"):
        alert = plan_of(stack).one("azure-native:monitor:MetricAlert").inputs
        criterion = alert["criteria"]["allOf"][0]
        expected = math.floor(
            SIZING[stack].postgres_max_connections * AlertThresholds().postgres_connections_fraction
        )
        assert criterion["metricName"] == "active_connections"
        assert criterion["threshold"] == expected


def test_every_alert_notifies_the_action_group(plan: Plan) -> None:
    group = plan.one("azure-native:monitor:ActionGroup").name
    for alert in plan.of_type("azure-native:monitor:ScheduledQueryRule"):
        assert [group in ref for ref in alert.inputs["actions"]["actionGroups"]] == [True]
    metric = plan.one("azure-native:monitor:MetricAlert")
    assert group in metric.inputs["actions"][0]["actionGroupId"]


def test_app_postgres_and_vault_logs_go_to_the_workspace(plan: Plan) -> None:
    targets = {
        d.inputs["resourceUri"].rsplit("/", 1)[-1]
        for d in plan.of_type("azure-native:monitor:DiagnosticSetting")
    }
    assert {"web-app", "web-staging-slot", "postgres-server", "key-vault-vault"} <= targets
