"""The virtual network every private resource sits in."""

from __future__ import annotations

import ipaddress
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


class Network(pulumi.ComponentResource):
    """VNet with one subnet per role, a network security group on each, no default outbound
    access, and a NAT gateway giving the app a fixed egress address."""

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
        for plan, block in zip(SUBNETS, blocks, strict=False):
            # Azure's default rules already deny inbound traffic from outside the VNet; the
            # group exists so that rules are added here, reviewed, and not on NICs.
            nsg = network.NetworkSecurityGroup(
                f"{name}-{plan.name}-nsg",
                network_security_group_name=placement.name(f"{plan.name}-nsg"),
                resource_group_name=placement.resource_group_name,
                location=placement.location,
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
