"""Azure Managed Redis (the `redisenterprise` provider; Azure Cache for Redis is being retired)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import redisenterprise

from infra.azure.network import Network
from infra.azure.placement import Placement
from infra.azure.private_link import PrivateLink
from infra.azure.web_app import AppIdentity

REDIS_PORT = 10000


@dataclass(frozen=True)
class RedisArgs:
    sku: str
    high_availability: bool
    access_keys: str  # "Disabled": Microsoft Entra only
    public_network_access: str


class ManagedRedis(pulumi.ComponentResource):
    """TLS 1.2 minimum, encrypted client protocol, access keys disabled (Entra only), no public
    network access: clients arrive through the private endpoint."""

    def __init__(
        self,
        name: str,
        placement: Placement,
        args: RedisArgs,
        *,
        network: Network,
        users: Sequence[AppIdentity],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:ManagedRedis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cluster = redisenterprise.RedisEnterprise(
            f"{name}-cluster",
            cluster_name=placement.name("redis"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            sku=redisenterprise.SkuArgs(name=args.sku),
            minimum_tls_version="1.2",
            high_availability="Enabled" if args.high_availability else "Disabled",
            public_network_access=args.public_network_access,
            tags=dict(placement.tags),
            opts=child,
        )
        database = redisenterprise.Database(
            f"{name}-database",
            cluster_name=cluster.name,
            database_name="default",  # the only name Azure Managed Redis accepts
            resource_group_name=placement.resource_group_name,
            client_protocol="Encrypted",
            access_keys_authentication=args.access_keys,
            # One endpoint for any client, cluster-aware or not.
            clustering_policy="EnterpriseCluster",
            port=REDIS_PORT,
            opts=child,
        )
        for user in users:
            redisenterprise.AccessPolicyAssignment(
                f"{name}-access-{user.slot}",
                cluster_name=cluster.name,
                database_name=database.name,
                resource_group_name=placement.resource_group_name,
                access_policy_name="default",
                user=redisenterprise.AccessPolicyAssignmentPropertiesUserArgs(object_id=user.principal_id),
                opts=child,
            )
        PrivateLink(
            f"{name}-private-link",
            placement,
            target_id=cluster.id,
            group_id="redisEnterprise",
            dns_zone="privatelink.redis.azure.net",
            subnet_id=network.private_endpoint_subnet_id,
            vnet_id=network.vnet_id,
            opts=child,
        )

        self.hostname = cluster.host_name
        self.register_outputs({"hostname": self.hostname})
