"""Where telemetry goes and who is told: Log Analytics, Application Insights, an action group."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_azure_native import applicationinsights, monitor, operationalinsights

from infra.azure.placement import Placement


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        placement: Placement,
        *,
        retention_days: int,
        alert_emails: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            workspace_name=placement.name("logs"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=retention_days,
            tags=dict(placement.tags),
            opts=child,
        )
        insights = applicationinsights.Component(
            f"{name}-insights",
            resource_name_=placement.name("insights"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            kind="web",
            application_type="web",
            # Workspace-based: telemetry lands next to the platform logs, one retention policy.
            workspace_resource_id=workspace.id,
            ingestion_mode="LogAnalytics",
            tags=dict(placement.tags),
            opts=child,
        )
        action_group = monitor.ActionGroup(
            f"{name}-action-group",
            action_group_name=placement.name("oncall"),
            resource_group_name=placement.resource_group_name,
            location="global",
            group_short_name=placement.short_name,
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=f"email-{index}", email_address=email, use_common_alert_schema=True
                )
                for index, email in enumerate(alert_emails)
            ],
            tags=dict(placement.tags),
            opts=child,
        )

        self.workspace_id = workspace.id
        # What the Log Analytics query API calls the workspace: the release gates query the slots'
        # HTTP logs in it (release_targets).
        self.workspace_customer_id = workspace.customer_id
        self.action_group_id = action_group.id
        # Holds the instrumentation key; it only ever travels as a secret (into Key Vault).
        self.insights_connection_string = pulumi.Output.secret(insights.connection_string)
        self.register_outputs(
            {
                "workspace_id": self.workspace_id,
                "workspace_customer_id": self.workspace_customer_id,
                "action_group_id": self.action_group_id,
            }
        )
