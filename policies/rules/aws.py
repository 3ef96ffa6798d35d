"""AWS: the EKS cluster, its secrets key, its nodes' launch template and its network."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule, StackCheck, StackRule
from policies.values import MISSING, expect_reference, items, requires, shown, value_at

CLUSTER = "aws:eks/cluster:Cluster"
KMS_KEY = "aws:kms/key:Key"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ADDON = "aws:eks/addon:Addon"
MIN_LOG_RETENTION_DAYS = 365

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


def _statements(policy: object) -> list[Mapping[str, Any]] | None:
    """A policy document's statements, or None when it is not a JSON policy document."""
    document = policy
    if isinstance(policy, str):
        try:
            document = json.loads(policy)
        except ValueError:
            return None
    if not isinstance(document, Mapping):
        return None
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    return [statement for statement in statements if isinstance(statement, Mapping)]


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(p) for value in principal.values() for p in _as_list(value)]
    return []


def _key_policy(key: Resource, _: Context) -> Iterator[str]:
    policy = value_at(key.props, "policy")
    if policy is MISSING:
        yield "policy is not set, which gives kms:* to the whole account; expected an explicit key policy"
        return
    statements = _statements(policy)
    if statements is None:
        yield "policy is not a JSON policy document with statements; expected an explicit key policy"
        return
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        label = f"policy statement {shown(statement.get('Sid') or index)}"
        for principal in _principals(statement):
            if principal == "*":
                yield f"{label} allows every principal; expected the key's administrators and users by ARN"
            elif principal.endswith(":root") or re.fullmatch(r"[0-9]{12}", principal):
                yield (
                    f"{label} allows an account root ({shown(principal)}), which lets any IAM policy of "
                    "the account use the key; expected the key's administrators and users by ARN"
                )
        if any(action in ("*", "kms:*") for action in _as_list(statement.get("Action"))):
            yield f"{label} allows kms:*; expected the administration or use actions only"


def _log_retention(group: Resource, _: Context) -> Iterator[str]:
    days = value_at(group.props, "retentionInDays")
    if days is MISSING:
        yield f"retentionInDays is not set; expected at least {MIN_LOG_RETENTION_DAYS} days (a year)"
    elif not isinstance(days, int | float) or isinstance(days, bool) or 0 < days < MIN_LOG_RETENTION_DAYS:
        yield f"retentionInDays is {shown(days)}; expected at least {MIN_LOG_RETENTION_DAYS} days (a year)"


def _network_policy_enforced(addon: Resource, _: Context) -> Iterator[str]:
    if value_at(addon.props, "addonName") != "vpc-cni":
        return
    raw = value_at(addon.props, "configurationValues")
    expected = 'expected {"enableNetworkPolicy": "true"} (or Kubernetes NetworkPolicies are not enforced)'
    if raw is MISSING:
        yield f"configurationValues is not set; {expected}"
        return
    try:
        values = json.loads(str(raw))
    except ValueError:
        values = None
    enabled = values.get("enableNetworkPolicy") if isinstance(values, Mapping) else None
    if str(enabled).lower() != "true":
        yield f"configurationValues does not enable network policies; {expected}"


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
    ResourceRule(
        "kms-key-policy",
        "KMS keys have an explicit key policy: administrators and named users, never every principal, "
        "an account root or kms:*",
        Level.MANDATORY,
        Reference("Checkov", "CKV2_AWS_64"),
        (KMS_KEY,),
        check=_key_policy,
    ),
    ResourceRule(
        "cloudwatch-log-retention-1-year",
        "CloudWatch log groups (EKS control-plane and audit logs, VPC flow logs) keep logs a year or more",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AWS_338"),
        (LOG_GROUP,),
        check=_log_retention,
        stacks=("production",),
    ),
    ResourceRule(
        "eks-network-policy-enforced",
        "The VPC CNI enforces Kubernetes NetworkPolicies (enableNetworkPolicy)",
        Level.MANDATORY,
        Reference("Checkov", "CKV2_K8S_6 (enforcement); EKS best practices"),
        (ADDON,),
        check=_network_policy_enforced,
    ),
)
