"""Send a resource's platform logs and metrics to the Log Analytics workspace."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import monitor


def send_to_workspace(
    name: str, resource_id: pulumi.Input[str], workspace_id: pulumi.Input[str], parent: pulumi.Resource
) -> monitor.DiagnosticSetting:
    """Every log category (the `allLogs` group) and all metrics, into resource-specific tables.

    Resource-specific ("Dedicated") tables such as `AppServiceHTTPLogs` are what the alert rules
    query, so the destination type is not a matter of taste here.
    """
    return monitor.DiagnosticSetting(
        name,
        name="to-log-analytics",
        resource_uri=resource_id,
        workspace_id=workspace_id,
        log_analytics_destination_type="Dedicated",
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
        metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
        opts=pulumi.ResourceOptions(parent=parent),
    )
