"""Alert rules with the runbooks' "investigate" thresholds, sent to the on-call action group."""

from __future__ import annotations

import math

import pulumi
from pulumi_azure_native import monitor

from infra.azure.placement import Placement
from infra.settings import AlertThresholds


def http_5xx_rate_query(web_app_id: str) -> str:
    """Percentage of 5xx responses of the production slot, from the platform's HTTP logs (so it
    works whatever the app instruments)."""
    return (
        "AppServiceHTTPLogs\n"
        f"| where _ResourceId =~ '{web_app_id}'\n"
        "| summarize total = count(), failed = countif(ScStatus >= 500)\n"
        "| extend failed_percent = iif(total == 0, 0.0, 100.0 * failed / total)"
    )


def p95_response_query(web_app_id: str) -> str:
    return (
        "AppServiceHTTPLogs\n"
        f"| where _ResourceId =~ '{web_app_id}'\n"
        "| summarize p95_ms = percentile(TimeTaken, 95)"
    )


class Alerts(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        placement: Placement,
        *,
        thresholds: AlertThresholds,
        action_group_id: pulumi.Input[str],
        workspace_id: pulumi.Input[str],
        web_app_id: pulumi.Output[str],
        postgres_server_id: pulumi.Input[str],
        postgres_max_connections: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        window = f"PT{thresholds.http_5xx_window_minutes}M"
        actions = monitor.ActionsArgs(action_groups=[action_group_id])

        def log_alert(
            suffix: str, description: str, query: pulumi.Input[str], column: str, threshold: float
        ) -> None:
            monitor.ScheduledQueryRule(
                f"{name}-{suffix}",
                rule_name=placement.name(suffix),
                resource_group_name=placement.resource_group_name,
                location=placement.location,
                description=description,
                kind="LogAlert",
                enabled=True,
                severity=2,
                scopes=[workspace_id],
                evaluation_frequency="PT1M",
                window_size=window,
                criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                    all_of=[
                        monitor.ConditionArgs(
                            query=query,
                            time_aggregation="Maximum",
                            metric_measure_column=column,
                            operator="GreaterThan",
                            threshold=threshold,
                            failing_periods=monitor.ConditionFailingPeriodsArgs(
                                number_of_evaluation_periods=1, min_failing_periods_to_alert=1
                            ),
                        )
                    ]
                ),
                actions=actions,
                auto_mitigate=True,
                tags=dict(placement.tags),
                opts=child,
            )

        log_alert(
            "http-5xx-rate",
            f"HTTP 5xx over {thresholds.http_5xx_percent}% of requests for "
            f"{thresholds.http_5xx_window_minutes} minutes (runbook: investigate)",
            web_app_id.apply(http_5xx_rate_query),
            "failed_percent",
            thresholds.http_5xx_percent,
        )
        log_alert(
            "p95-response-time",
            f"p95 response time over {thresholds.p95_response_ms} ms (runbook: investigate)",
            web_app_id.apply(p95_response_query),
            "p95_ms",
            thresholds.p95_response_ms,
        )

        # The server's max_connections is set explicitly (see Postgres), so the threshold is a
        # number here rather than a guess about a SKU's default.
        connection_limit = math.floor(postgres_max_connections * thresholds.postgres_connections_fraction)
        monitor.MetricAlert(
            f"{name}-postgres-connections",
            rule_name=placement.name("postgres-connections"),
            resource_group_name=placement.resource_group_name,
            location="global",
            description=(
                f"Postgres active connections over {thresholds.postgres_connections_fraction:.0%}"
                f" of max_connections ({connection_limit} of {postgres_max_connections})"
            ),
            enabled=True,
            severity=2,
            scopes=[postgres_server_id],
            evaluation_frequency="PT1M",
            window_size="PT5M",
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name="active-connections",
                        metric_name="active_connections",
                        metric_namespace="Microsoft.DBforPostgreSQL/flexibleServers",
                        operator="GreaterThan",
                        threshold=connection_limit,
                        time_aggregation="Maximum",
                    )
                ],
            ),
            actions=[monitor.MetricAlertActionArgs(action_group_id=action_group_id)],
            auto_mitigate=True,
            tags=dict(placement.tags),
            opts=child,
        )
        self.register_outputs({})
