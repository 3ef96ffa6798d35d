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


def security_rules(plan: Plan, subnet: str) -> list[dict[str, object]]:
    return plan.one("azure-native:network:NetworkSecurityGroup", f"network-{subnet}-nsg").inputs[
        "securityRules"
    ]


def allowed(plan: Plan, subnet: str, direction: str) -> set[tuple[object, object, object]]:
    """(source, destination, port) of each Allow rule of one subnet's group, in one direction."""
    return {
        (rule["sourceAddressPrefix"], rule["destinationAddressPrefix"], rule["destinationPortRange"])
        for rule in security_rules(plan, subnet)
        if rule["direction"] == direction and rule["access"] == "Allow"
    }


def test_every_security_group_denies_everything_else_in_and_out(plan: Plan) -> None:
    for subnet in ("app", "private-endpoints", "postgres"):
        rules = security_rules(plan, subnet)
        for direction in ("Inbound", "Outbound"):
            own = [rule for rule in rules if rule["direction"] == direction]
            last = max(own, key=lambda rule: rule["priority"])  # type: ignore[arg-type, return-value]
            denied = (last["access"], last["sourceAddressPrefix"], last["destinationAddressPrefix"])
            assert denied == ("Deny", "*", "*")
            assert last["destinationPortRange"] == "*" and last["protocol"] == "*"


def test_only_the_stated_flows_are_allowed(plan: Plan) -> None:
    ranges = {name: subnet["addressPrefix"] for name, subnet in subnets(plan).items()}
    app, endpoints, postgres = ranges["app"], ranges["private-endpoints"], ranges["postgres"]
    assert allowed(plan, "app", "Outbound") == {
        (app, postgres, "5432"),
        (app, endpoints, "10000"),
        (app, endpoints, "443"),
        (app, "Internet", "443"),
    }
    assert allowed(plan, "app", "Inbound") == set()
    assert allowed(plan, "private-endpoints", "Inbound") == {
        (app, endpoints, "10000"),
        (app, endpoints, "443"),
    }
    assert allowed(plan, "private-endpoints", "Outbound") == set()
    assert allowed(plan, "postgres", "Inbound") == {(app, postgres, "5432"), (postgres, postgres, "5432")}
    assert allowed(plan, "postgres", "Outbound") == {
        (postgres, postgres, "5432"),
        (postgres, "Storage", "443"),
        (postgres, "AzureActiveDirectory", "443"),
    }


def test_the_allowed_ports_are_the_components_own() -> None:
    from infra.azure import network, redis

    assert network.REDIS_PORT == redis.REDIS_PORT
