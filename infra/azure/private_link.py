"""A private endpoint for one Azure service, with the private DNS zone that makes its name resolve
to the endpoint's address inside the virtual network."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import network, privatedns

from infra.azure.placement import Placement


def private_dns_zone(
    name: str, placement: Placement, zone_name: str, vnet_id: pulumi.Input[str], parent: pulumi.Resource
) -> tuple[privatedns.PrivateZone, privatedns.VirtualNetworkLink]:
    """A private DNS zone resolvable from inside the virtual network (and only there)."""
    child = pulumi.ResourceOptions(parent=parent)
    zone = privatedns.PrivateZone(
        f"{name}-zone",
        private_zone_name=zone_name,
        resource_group_name=placement.resource_group_name,
        location="global",
        tags=dict(placement.tags),
        opts=child,
    )
    link = privatedns.VirtualNetworkLink(
        f"{name}-zone-link",
        private_zone_name=zone.name,
        resource_group_name=placement.resource_group_name,
        location="global",
        registration_enabled=False,
        virtual_network=privatedns.SubResourceArgs(id=vnet_id),
        tags=dict(placement.tags),
        opts=child,
    )
    return zone, link


class PrivateLink(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        placement: Placement,
        *,
        target_id: pulumi.Input[str],
        group_id: str,
        dns_zone: str,
        subnet_id: pulumi.Input[str],
        vnet_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:PrivateLink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        zone, _ = private_dns_zone(name, placement, dns_zone, vnet_id, parent=self)
        endpoint = network.PrivateEndpoint(
            f"{name}-endpoint",
            private_endpoint_name=placement.name(f"{group_id.lower()}-pe"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            subnet=network.SubnetArgs(id=subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=group_id, private_link_service_id=target_id, group_ids=[group_id]
                )
            ],
            tags=dict(placement.tags),
            opts=child,
        )
        network.PrivateDnsZoneGroup(
            f"{name}-dns",
            private_dns_zone_group_name="default",
            private_endpoint_name=endpoint.name,
            resource_group_name=placement.resource_group_name,
            private_dns_zone_configs=[
                network.PrivateDnsZoneConfigArgs(name=group_id, private_dns_zone_id=zone.id)
            ],
            opts=child,
        )
        self.endpoint_id = endpoint.id
        self.register_outputs({"endpoint_id": self.endpoint_id})
