"""The API's AWS network, per stack: zones, subnets, NAT, flow logs, a closed default group."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from infra.aws.network import subnet_ranges
from infra.offline import Plan
from infra.settings import SIZING

SUBNET = "aws:ec2/subnet:Subnet"


def test_one_private_and_one_public_subnet_per_zone(plan: Plan) -> None:
    subnets = plan.of_type(SUBNET)
    zones = SIZING[plan.stack].availability_zones
    assert {s.inputs["availabilityZone"] for s in subnets} == {f"eu-west-1{z}" for z in "abc"[:zones]}
    private = [s for s in subnets if "private" in s.name]
    public = [s for s in subnets if "public" in s.name]
    assert len(private) == len(public) == zones
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    # No instance gets a public address by default, not even in the public subnets.
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)


def test_production_has_a_nat_gateway_per_zone_and_staging_one(plan_of: Callable[[str], Plan]) -> None:
    assert len(plan_of("production").of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert len(plan_of("staging").of_type("aws:ec2/natGateway:NatGateway")) == 1


def test_private_subnets_leave_only_through_nat(plan: Plan) -> None:
    for table in plan.of_type("aws:ec2/routeTable:RouteTable"):
        routes = table.inputs["routes"]
        assert [route["cidrBlock"] for route in routes] == ["0.0.0.0/0"]
        if "private" in table.name:
            assert "natGatewayId" in routes[0] and "gatewayId" not in routes[0]


def test_default_security_group_admits_nothing(plan: Plan) -> None:
    group = plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs.get("ingress", []) == [] and group.inputs.get("egress", []) == []


def test_flow_logs_capture_all_traffic_of_the_vpc_to_cloudwatch(plan: Plan) -> None:
    flow_log = plan.one("aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["vpcId"].endswith("api-network-vpc")
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
    retention = plan.one("aws:cloudwatch/logGroup:LogGroup", "api-network-flow-logs").inputs[
        "retentionInDays"
    ]
    # A protected stack value, a year in both stacks (CKV_AWS_338), not the Azure workspace's SIZING.
    assert retention == 365


def test_subnet_ranges_do_not_overlap_and_stay_inside_the_vpc() -> None:
    private, public = subnet_ranges("10.40.0.0/16", 3)
    networks = [ipaddress.IPv4Network(r) for r in private + public]
    assert all(n.subnet_of(ipaddress.IPv4Network("10.40.0.0/16")) for n in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
