"""Virtual network: a subnet per role, each behind a security group, no default outbound access."""

from __future__ import annotations

from infra.offline import Plan


def subnets(plan: Plan) -> dict[str, dict[str, object]]:
    vnet = plan.one("azure-native:network:VirtualNetwork")
    return {subnet["name"]: subnet for subnet in vnet.inputs["subnets"]}


def test_subnets_for_app_integration_private_endpoints_and_postgres(plan: Plan) -> None:
    found = subnets(plan)
    assert set(found) == {"app", "private-endpoints", "postgres"}
    assert found["app"]["delegations"][0]["serviceName"] == "Microsoft.Web/serverFarms"  # type: ignore[index]
    assert found["postgres"]["delegations"][0]["serviceName"] == "Microsoft.DBforPostgreSQL/flexibleServers"  # type: ignore[index]
    assert "delegations" not in found["private-endpoints"]


def test_every_subnet_has_a_security_group_and_no_default_outbound_access(plan: Plan) -> None:
    for subnet in subnets(plan).values():
        assert subnet["networkSecurityGroup"]
        assert subnet["defaultOutboundAccess"] is False


def test_only_the_app_subnet_egresses_through_the_nat_gateway(plan: Plan) -> None:
    with_nat = sorted(name for name, subnet in subnets(plan).items() if subnet.get("natGateway"))
    assert with_nat == ["app"]
