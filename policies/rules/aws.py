"""AWS: the EKS cluster, its secrets key, its nodes' launch template and its network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule, StackCheck, StackRule
from policies.values import MISSING, expect_reference, items, requires, shown, value_at

CLUSTER = "aws:eks/cluster:Cluster"
KMS_KEY = "aws:kms/key:Key"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


def _secrets_encryption(cluster: Resource, _: Context) -> Iterator[str]:
    if "secrets" not in items(cluster.props, "encryptionConfig.resources"):
        yield 'encryptionConfig.resources does not list "secrets"; expected secrets envelope-encrypted'
    yield from expect_reference(
        cluster.props, "encryptionConfig.provider.keyArn", "a customer-managed KMS key's ARN", "arn:aws:kms:"
    )


def _everyone(cidr: object) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _endpoint_restricted(cluster: Resource, _: Context) -> Iterator[str]:
    public = value_at(cluster.props, "vpcConfig.endpointPublicAccess")
    if public is False:
        return
    cidrs = value_at(cluster.props, "vpcConfig.publicAccessCidrs")
    if cidrs is MISSING or not items(cluster.props, "vpcConfig.publicAccessCidrs"):
        # EKS's default for an unset list is 0.0.0.0/0.
        yield "vpcConfig.publicAccessCidrs is not set, which EKS takes as 0.0.0.0/0; expected specific CIDRs"
    for cidr in items(cluster.props, "vpcConfig.publicAccessCidrs"):
        if _everyone(cidr):
            yield f"vpcConfig.publicAccessCidrs admits {shown(cidr)}, all the internet; expected listed CIDRs"


def _control_plane_logs(cluster: Resource, _: Context) -> Iterator[str]:
    enabled = items(cluster.props, "enabledClusterLogTypes")
    missing = [kind for kind in CONTROL_PLANE_LOG_TYPES if kind not in enabled]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}; expected all five control-plane logs"


def _default_group_closed(group: Resource, _: Context) -> Iterator[str]:
    for direction in ("ingress", "egress"):
        value = value_at(group.props, direction)
        if value is MISSING:
            yield f"{direction} is not set, which leaves AWS's default rules; expected [] (no rules)"
        elif items(group.props, direction):
            yield f"{direction} has {len(items(group.props, direction))} rule(s); expected [] (no rules)"


def _attached(resources: Sequence[Resource], kind: str, vpc: Resource) -> bool:
    return any(r.type == kind and vpc.urn in r.property_dependencies.get("vpcId", ()) for r in resources)


def _vpcs_with(kind: str, what: str) -> StackCheck:
    def check(resources: Sequence[Resource], _: Context) -> Iterator[tuple[Resource, str]]:
        for vpc in (r for r in resources if r.type == VPC):
            if not _attached(resources, kind, vpc):
                yield vpc, f"no {what} names this VPC in vpcId"

    return check


RULES: tuple[Rule, ...] = (
    ResourceRule(
        "eks-secrets-encryption",
        "EKS envelope-encrypts Kubernetes secrets with a customer-managed KMS key",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_58"),
        (CLUSTER,),
        check=_secrets_encryption,
    ),
    ResourceRule(
        "kms-key-rotation",
        "KMS keys rotate yearly",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_7; CIS AWS 3.6"),
        (KMS_KEY,),
        check=requires(("enableKeyRotation", [True], "true")),
    ),
    ResourceRule(
        "eks-endpoint-restricted",
        "The EKS API's public endpoint is closed or admits listed CIDRs only, never 0.0.0.0/0",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_38"),
        (CLUSTER,),
        check=_endpoint_restricted,
    ),
    ResourceRule(
        "eks-private-endpoint",
        "The EKS API has a private endpoint for the nodes",
        Level.ADVISORY,
        Reference("CIS", "Amazon EKS 5.4.2"),
        (CLUSTER,),
        check=requires(("vpcConfig.endpointPrivateAccess", [True], "true (nodes stay inside the VPC)")),
    ),
    ResourceRule(
        "eks-control-plane-logs",
        "EKS sends every control-plane log type to CloudWatch",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_37"),
        (CLUSTER,),
        check=_control_plane_logs,
    ),
    ResourceRule(
        "launch-template-imdsv2",
        "Node launch templates require IMDSv2 (session tokens)",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_79"),
        (LAUNCH_TEMPLATE,),
        check=requires(("metadataOptions.httpTokens", ["required"], '"required" (IMDSv2 only)')),
    ),
    ResourceRule(
        "launch-template-imds-hop-limit",
        "Node launch templates limit IMDS responses to one hop",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_341"),
        (LAUNCH_TEMPLATE,),
        check=requires(
            (
                "metadataOptions.httpPutResponseHopLimit",
                [1],
                "1 (a pod cannot reach the node's metadata and borrow its role)",
            )
        ),
    ),
    StackRule(
        "vpc-flow-logs",
        "Every VPC has a flow log",
        Level.MANDATORY,
        Reference("Checkov", "CKV2_AWS_11; CIS AWS 3.9"),
        (VPC, FLOW_LOG),
        check=_vpcs_with(FLOW_LOG, "flow log"),
    ),
    ResourceRule(
        "vpc-flow-logs-all-traffic",
        "Flow logs capture accepted and rejected traffic",
        Level.MANDATORY,
        Reference("CIS", "AWS 3.9"),
        (FLOW_LOG,),
        check=requires(("trafficType", ["ALL"], '"ALL" (accepted and rejected traffic)')),
    ),
    StackRule(
        "vpc-default-security-group-managed",
        "Every VPC's default security group is managed here (so its rules are code, not AWS's defaults)",
        Level.MANDATORY,
        Reference("Checkov", "CKV2_AWS_12; CIS AWS 5.4"),
        (VPC, DEFAULT_SECURITY_GROUP),
        check=_vpcs_with(DEFAULT_SECURITY_GROUP, "managed default security group"),
    ),
    ResourceRule(
        "vpc-default-security-group-closed",
        "Default security groups have no rules: nothing uses them by accident",
        Level.MANDATORY,
        Reference("Checkov", "CKV2_AWS_12; CIS AWS 5.4"),
        (DEFAULT_SECURITY_GROUP,),
        check=_default_group_closed,
    ),
)
