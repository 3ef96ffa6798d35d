"""Postgres Flexible Server, reachable only from inside the virtual network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import dbforpostgresql

from infra.azure.diagnostics import send_to_workspace
from infra.azure.network import Network
from infra.azure.placement import Placement
from infra.azure.private_link import private_dns_zone
from infra.azure.web_app import AppIdentity

DATABASE_NAME = "app"


@dataclass(frozen=True)
class PostgresArgs:
    version: str
    sku: str
    tier: str
    storage_gb: int
    max_connections: int
    zone_redundant_ha: bool
    geo_redundant_backup: bool
    backup_retention_days: int
    password_auth: str  # "Disabled": Microsoft Entra only
    protect: bool  # Pulumi `protect` on the server


class Postgres(pulumi.ComponentResource):
    """Private access only (delegated subnet + private DNS zone), Microsoft Entra authentication
    only (no password exists to leak), TLS required, `protect` on the server.

    The app's identities become Entra administrators: creating non-admin Entra roles needs SQL
    (`pgaadauth_create_principal`) run inside the network, which a migration can do later.
    """

    def __init__(
        self,
        name: str,
        placement: Placement,
        args: PostgresArgs,
        *,
        network: Network,
        tenant_id: pulumi.Input[str],
        entra_admins: Sequence[AppIdentity],
        workspace_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:Postgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        server_name = placement.name("pg")

        zone, zone_link = private_dns_zone(
            name,
            placement,
            f"{server_name}.private.postgres.database.azure.com",
            network.vnet_id,
            parent=self,
        )
        server = dbforpostgresql.Server(
            f"{name}-server",
            server_name=server_name,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            version=args.version,
            sku=dbforpostgresql.SkuArgs(name=args.sku, tier=args.tier),
            storage=dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
            backup=dbforpostgresql.BackupArgs(
                backup_retention_days=args.backup_retention_days,
                geo_redundant_backup="Enabled" if args.geo_redundant_backup else "Disabled",
            ),
            high_availability=dbforpostgresql.HighAvailabilityArgs(
                mode="ZoneRedundant" if args.zone_redundant_ha else "Disabled"
            ),
            network=dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=network.postgres_subnet_id,
                private_dns_zone_arm_resource_id=zone.id,
                public_network_access="Disabled",
            ),
            auth_config=dbforpostgresql.AuthConfigArgs(
                active_directory_auth="Enabled", password_auth=args.password_auth, tenant_id=tenant_id
            ),
            tags=dict(placement.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[zone_link]),
        )

        # max_connections is pinned (not left to the SKU's default) so the connection alert's
        # threshold is exact; require_secure_transport is the default, stated so it stays so.
        for parameter, value in {
            "max_connections": str(args.max_connections),
            "require_secure_transport": "on",
        }.items():
            dbforpostgresql.Configuration(
                f"{name}-{parameter.replace('_', '-')}",
                configuration_name=parameter,
                server_name=server.name,
                resource_group_name=placement.resource_group_name,
                value=value,
                source="user-override",
                opts=child,
            )
        dbforpostgresql.Database(
            f"{name}-database",
            database_name=DATABASE_NAME,
            server_name=server.name,
            resource_group_name=placement.resource_group_name,
            charset="UTF8",
            collation="en_US.utf8",
            opts=child,
        )
        # The server accepts one administrator change at a time: chain them.
        previous: list[pulumi.Resource] = []
        for admin in entra_admins:
            created = dbforpostgresql.AdministratorsMicrosoftEntra(
                f"{name}-entra-admin-{admin.slot}",
                server_name=server.name,
                resource_group_name=placement.resource_group_name,
                object_id=admin.principal_id,
                principal_name=admin.principal_name,
                principal_type="ServicePrincipal",
                tenant_id=tenant_id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [created]
        send_to_workspace(f"{name}-diagnostics", server.id, workspace_id, parent=self)

        self.server_id = server.id
        self.server_name = server.name
        self.fqdn = server.fully_qualified_domain_name
        self.register_outputs({"server_id": self.server_id, "fqdn": self.fqdn})
