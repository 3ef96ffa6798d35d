"""The virtual network every private resource sits in."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

from infra.azure.placement import Placement


@dataclass(frozen=True)
class SubnetPlan:
    name: str
    # Service the subnet is delegated to (an App Service integration subnet and a Postgres
    # Flexible Server subnet must each be delegated, and to nothing else).
    delegation: str | None
    # Outbound internet through the NAT gateway: only the app needs it (Stripe, identity, ...).
    egress: bool


# In order: the first three /24s of the address space.
SUBNETS = (
    SubnetPlan("app", "Microsoft.Web/serverFarms", egress=True),
    SubnetPlan("private-endpoints", None, egress=False),
    SubnetPlan("postgres", "Microsoft.DBforPostgreSQL/flexibleServers", egress=False),
)

# The ports the app reaches its data on (Azure Managed Redis listens on 10000; Key Vault's
# private endpoint on 443). tests/infra/azure/test_network.py keeps them equal to the components'.
POSTGRES_PORT = 5432
REDIS_PORT = 10000
KEY_VAULT_PORT = 443
# The last priority Azure allows for a custom rule: the deny-all rules sit there, below every
# allow, and above Azure's own defaults (65000+: VNet to VNet, load balancer, outbound internet).
DENY_ALL_PRIORITY = 4096


@dataclass(frozen=True)
class Flow:
    """Traffic allowed from one subnet to another subnet (by name) or to a service tag."""

    name: str
    source: str
    destination: str
    port: int
    why: str


# Every flow the platform needs; everything else, inbound and outbound, is denied.
ALLOWED_FLOWS = (
    Flow("app-to-postgres", "app", "postgres", POSTGRES_PORT, "the app's database"),
    Flow("app-to-redis", "app", "private-endpoints", REDIS_PORT, "Redis through its private endpoint"),
    Flow("app-to-key-vault", "app", "private-endpoints", KEY_VAULT_PORT, "Key Vault's private endpoint"),
    # Outbound HTTPS through the NAT gateway: Stripe, Entra ID, Application Insights.
    Flow("app-to-internet", "app", "Internet", 443, "HTTPS APIs the app calls"),
    # Zone-redundant HA: the standby replicates from the primary inside the delegated subnet.
    Flow("postgres-replication", "postgres", "postgres", POSTGRES_PORT, "HA replication"),
    # What a Flexible Server in a VNet needs (Microsoft's networking guidance): WAL archiving and
    # backups in Azure Storage, token validation for Entra authentication.
    Flow("postgres-to-storage", "postgres", "Storage", 443, "WAL archiving and backups"),
    Flow("postgres-to-entra", "postgres", "AzureActiveDirectory", 443, "Entra authentication"),
)


def security_rules(subnet: str, ranges: Mapping[str, str]) -> list[network.SecurityRuleArgs]:
    """A subnet's rules: each allowed flow it sends (outbound) or receives (inbound), then a
    deny-all rule in each direction. `ranges` maps subnet names to their address ranges; any other
    endpoint is a service tag."""
    rules: list[network.SecurityRuleArgs] = []
    for index, flow in enumerate(ALLOWED_FLOWS):
        for direction, local in (("Outbound", flow.source), ("Inbound", flow.destination)):
            if local != subnet:
                continue
            rules.append(
                network.SecurityRuleArgs(
                    name=f"allow-{flow.name}-{direction.lower()}",
                    description=f"{flow.why} ({flow.source} -> {flow.destination}:{flow.port})",
                    priority=100 + 10 * index,
                    direction=direction,
                    access="Allow",
                    protocol="Tcp",
                    source_address_prefix=ranges.get(flow.source, flow.source),
                    source_port_range="*",
                    destination_address_prefix=ranges.get(flow.destination, flow.destination),
                    destination_port_range=str(flow.port),
                )
            )
    for direction in ("Inbound", "Outbound"):
        rules.append(
            network.SecurityRuleArgs(
                name=f"deny-all-{direction.lower()}",
                description="Deny by default: only the flows above are allowed",
                priority=DENY_ALL_PRIORITY,
                direction=direction,
                access="Deny",
                protocol="*",
                source_address_prefix="*",
                source_port_range="*",
                destination_address_prefix="*",
                destination_port_range="*",
            )
        )
    return rules


class Network(pulumi.ComponentResource):
    """VNet with one subnet per role, a network security group on each that denies everything but
    the flows in ALLOWED_FLOWS, no default outbound access, and a NAT gateway giving the app a
    fixed egress address."""

    def __init__(
        self,
        name: str,
        placement: Placement,
        address_space: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        blocks = list(ipaddress.ip_network(address_space).subnets(new_prefix=24))

        egress_ip = network.PublicIPAddress(
            f"{name}-egress-ip",
            public_ip_address_name=placement.name("egress-ip"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            tags=dict(placement.tags),
            opts=child,
        )
        nat = network.NatGateway(
            f"{name}-nat",
            nat_gateway_name=placement.name("nat"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            sku=network.NatGatewaySkuArgs(name="Standard"),
            public_ip_addresses=[network.SubResourceArgs(id=egress_ip.id)],
            tags=dict(placement.tags),
            opts=child,
        )

        subnets: list[network.SubnetArgs] = []
        ranges = {plan.name: str(block) for plan, block in zip(SUBNETS, blocks, strict=False)}
        for plan, block in zip(SUBNETS, blocks, strict=False):
            # Deny by default, inbound and outbound: Azure's own defaults let any subnet reach any
            # other on any port, and every VM-like resource reach the internet. Rules live here,
            # reviewed, never on NICs.
            nsg = network.NetworkSecurityGroup(
                f"{name}-{plan.name}-nsg",
                network_security_group_name=placement.name(f"{plan.name}-nsg"),
                resource_group_name=placement.resource_group_name,
                location=placement.location,
                security_rules=security_rules(plan.name, ranges),
                tags=dict(placement.tags),
                opts=child,
            )
            subnets.append(
                network.SubnetArgs(
                    name=plan.name,
                    address_prefix=str(block),
                    network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
                    default_outbound_access=False,
                    nat_gateway=network.SubResourceArgs(id=nat.id) if plan.egress else None,
                    delegations=[network.DelegationArgs(name=plan.name, service_name=plan.delegation)]
                    if plan.delegation
                    else None,
                    private_endpoint_network_policies="Enabled",
                )
            )

        # Subnets are declared inline: separate Subnet resources race each other (Azure updates
        # a VNet's subnets one at a time) and drift when the VNet itself is updated.
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=placement.name("vnet"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[address_space]),
            subnets=subnets,
            tags=dict(placement.tags),
            opts=child,
        )

        self.vnet_id = vnet.id
        self.app_subnet_id = pulumi.Output.concat(vnet.id, "/subnets/app")
        self.private_endpoint_subnet_id = pulumi.Output.concat(vnet.id, "/subnets/private-endpoints")
        self.postgres_subnet_id = pulumi.Output.concat(vnet.id, "/subnets/postgres")
        self.egress_ip = egress_ip.ip_address
        self.register_outputs({"vnet_id": self.vnet_id})
