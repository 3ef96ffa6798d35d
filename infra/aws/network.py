"""The cluster's network: a VPC over several availability zones, private subnets for nodes and
public subnets for load balancers, NAT for egress, flow logs, and a default security group that
admits nothing (resources get their own, explicit groups).

Subnets are carved from the VPC range in eighths: private subnets first (nodes and pods take most
addresses), public ones from the second half. Production has a NAT gateway per zone, so losing a
zone never cuts the others' egress; staging shares one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.iam import service_trust_policy

ZONE_LETTERS = "abc"


@dataclass(frozen=True)
class NetworkArgs:
    name: str  # `<namePrefix>-<stack>`
    region: str
    cidr: str
    availability_zones: int
    nat_gateway_per_zone: bool
    flow_log_retention_days: int


def subnet_ranges(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) ranges, one per zone, from the eighths of `cidr`."""
    eighths = [str(net) for net in ipaddress.ip_network(cidr).subnets(prefixlen_diff=3)]
    return eighths[:zones], eighths[4 : 4 + zones]


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("platform:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = [f"{args.region}{letter}" for letter in ZONE_LETTERS[: args.availability_zones]]
        private_ranges, public_ranges = subnet_ranges(args.cidr, len(zones))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.name}-vpc"},
            opts=child,
        )
        # Adopting the default security group with no rules removes AWS's default allow-all rules.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public-routes",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            opts=child,
        )

        private_subnets: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        for index, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_ranges[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                # Where Kubernetes places internet-facing load balancers.
                tags={"Name": f"{args.name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            if args.nat_gateway_per_zone or index == 0:
                address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=child)
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{zone}",
                        allocation_id=address.id,
                        subnet_id=public.id,
                        tags={"Name": f"{args.name}-nat-{zone}"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                    )
                )

            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_ranges[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{args.name}-private-{zone}", "kubernetes.io/role/internal-elb": "1"},
                opts=child,
            )
            nat = nat_gateways[index if args.nat_gateway_per_zone else 0]
            private_routes = aws.ec2.RouteTable(
                f"{name}-private-routes-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=private_routes.id, opts=child
            )
            private_subnets.append(private)

        self._flow_logs(name, args, vpc)
        self.private_subnet_ids = [subnet.id for subnet in private_subnets]
        self.register_outputs({"vpcId": vpc.id})

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc) -> None:
        """Every accepted and rejected flow, to CloudWatch Logs, through a role that may only
        write there."""
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{args.name}/flow-logs",
            retention_in_days=args.flow_log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            "Resource": [group.arn, pulumi.Output.concat(group.arn, ":*")],
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            opts=child,
        )
