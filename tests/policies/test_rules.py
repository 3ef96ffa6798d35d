"""Every rule, four ways: the committed program's resource passes; the judged value missing, a bad
value, and an unknown value (as in a first preview) each fail it.

A case starts from the real resource the production stack declares (or, for resource types the
program does not declare, a plausible one) and changes one input.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.offline import UNKNOWN
from policies.rule import Context, Finding, Resource
from policies.rules import RULES
from tests.policies.conftest import with_value, without

BY_ID = {rule.id: rule for rule in RULES}
CONTAINER = "spec.template.spec.containers[0]"
POD = "spec.template.spec"


@dataclass(frozen=True)
class Case:
    rule: str
    type: str
    path: str  # the input the rule judges
    bad: Any  # a value the rule must refuse
    name: str | None = None  # which resource of the type, when the stack declares several
    props: dict[str, Any] = field(default_factory=dict[str, Any])  # for types the program does not declare
    # What the missing-value message names, when not `path` itself.
    missing_names: str | None = None
    # The input names a resource created in the same update: unknown in every first preview, and
    # judged by being set (policies.values.reference), so an unknown id passes.
    pending_reference: bool = False


CASES = [
    # App Service
    Case("app-service-https-only", "azure-native:web:WebApp", "httpsOnly", False),
    Case("app-service-tls-1-2", "azure-native:web:WebAppSlot", "siteConfig.minTlsVersion", "1.0"),
    Case("app-service-ftps-disabled", "azure-native:web:WebApp", "siteConfig.ftpsState", "FtpsOnly"),
    Case(
        "app-service-basic-auth-disabled",
        "azure-native:web:WebAppScmAllowedSlot",
        "allow",
        True,
    ),
    Case(
        "app-service-remote-debugging-off",
        "azure-native:web:WebAppSlot",
        "siteConfig.remoteDebuggingEnabled",
        True,
    ),
    Case("app-service-managed-identity", "azure-native:web:WebApp", "identity.type", "None"),
    Case("app-service-health-check", "azure-native:web:WebApp", "siteConfig.healthCheckPath", "health"),
    Case(
        "app-service-access-restricted",
        "azure-native:web:WebAppSlot",
        "siteConfig.ipSecurityRestrictionsDefaultAction",
        "Allow",
    ),
    Case(
        "app-service-secrets-in-key-vault",
        "azure-native:web:WebApp",
        "siteConfig.appSettings[name=STRIPE_SECRET_KEY].value",
        "sk_live_never_printed",
        missing_names="STRIPE_SECRET_KEY",
    ),
    Case(
        "app-service-image-pinned",
        "azure-native:web:WebAppSlot",
        "siteConfig.linuxFxVersion",
        "DOCKER|ghcr.io/example/platform-web:latest",
    ),
    Case("app-service-http2", "azure-native:web:WebApp", "siteConfig.http20Enabled", False),
    Case(
        "app-service-origin-credential",
        "azure-native:web:WebAppSlot",
        "siteConfig.ipSecurityRestrictions",
        # Cloudflare's range alone: every Cloudflare customer's traffic passes.
        [{"name": "cloudflare-0", "action": "Allow", "ipAddress": "173.245.48.0/20", "priority": 100}],
    ),
    Case(
        "app-service-image-digest",
        "azure-native:web:WebApp",
        "siteConfig.linuxFxVersion",
        "DOCKER|ghcr.io/example/platform-web:1.0.0",
    ),
    # Azure network
    Case(
        "azure-nsg-deny-by-default",
        "azure-native:network:NetworkSecurityGroup",
        "securityRules",
        [
            {
                "name": "allow-all",
                "priority": 100,
                "direction": "Inbound",
                "access": "Allow",
                "protocol": "*",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": "*",
                "destinationPortRange": "*",
            }
        ],
        name="network-app-nsg",
    ),
    # Postgres, Redis, Key Vault
    Case(
        "postgres-no-public-access",
        "azure-native:dbforpostgresql:Server",
        "network.publicNetworkAccess",
        "Enabled",
    ),
    Case(
        "postgres-no-open-firewall-rule",
        "azure-native:dbforpostgresql:FirewallRule",
        "startIpAddress",
        "0.0.0.0",
        props={
            "serverName": "platform-production-pg",
            "startIpAddress": "10.30.2.4",
            "endIpAddress": "10.30.2.8",
        },
    ),
    Case(
        "postgres-geo-redundant-backup",
        "azure-native:dbforpostgresql:Server",
        "backup.geoRedundantBackup",
        "Disabled",
    ),
    Case(
        "postgres-zone-redundant-ha",
        "azure-native:dbforpostgresql:Server",
        "highAvailability.mode",
        "SameZone",
    ),
    Case(
        "postgres-entra-authentication",
        "azure-native:dbforpostgresql:Server",
        "authConfig.passwordAuth",
        "Enabled",
    ),
    Case(
        "postgres-secure-transport",
        "azure-native:dbforpostgresql:Configuration",
        "value",
        "off",
        name="postgres-require-secure-transport",
    ),
    Case("redis-tls-1-2", "azure-native:redisenterprise:RedisEnterprise", "minimumTlsVersion", "1.0"),
    Case("redis-encrypted-protocol", "azure-native:redisenterprise:Database", "clientProtocol", "Plaintext"),
    Case(
        "redis-access-keys-disabled",
        "azure-native:redisenterprise:Database",
        "accessKeysAuthentication",
        "Enabled",
    ),
    Case(
        "redis-no-public-access",
        "azure-native:redisenterprise:RedisEnterprise",
        "publicNetworkAccess",
        "Enabled",
    ),
    Case("key-vault-rbac", "azure-native:keyvault:Vault", "properties.enableRbacAuthorization", False),
    Case(
        "key-vault-purge-protection", "azure-native:keyvault:Vault", "properties.enablePurgeProtection", False
    ),
    Case(
        "key-vault-soft-delete-90-days",
        "azure-native:keyvault:Vault",
        "properties.softDeleteRetentionInDays",
        7,
    ),
    Case(
        "key-vault-no-public-access",
        "azure-native:keyvault:Vault",
        "properties.publicNetworkAccess",
        "Enabled",
    ),
    # AWS
    Case("eks-secrets-encryption", "aws:eks/cluster:Cluster", "encryptionConfig.resources", ["configmaps"]),
    Case("kms-key-rotation", "aws:kms/key:Key", "enableKeyRotation", False),
    Case("eks-endpoint-restricted", "aws:eks/cluster:Cluster", "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"]),
    Case("eks-private-endpoint", "aws:eks/cluster:Cluster", "vpcConfig.endpointPrivateAccess", False),
    Case("eks-control-plane-logs", "aws:eks/cluster:Cluster", "enabledClusterLogTypes", ["api", "audit"]),
    Case(
        "launch-template-imdsv2",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "metadataOptions.httpTokens",
        "optional",
    ),
    Case(
        "launch-template-imds-hop-limit",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "metadataOptions.httpPutResponseHopLimit",
        2,
    ),
    Case("vpc-flow-logs-all-traffic", "aws:ec2/flowLog:FlowLog", "trafficType", "ACCEPT"),
    Case(
        "kms-key-policy",
        "aws:kms/key:Key",
        "policy",
        # AWS's default key policy: the whole account, every KMS action.
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "kms:*",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Resource": "*",
                    }
                ],
            }
        ),
    ),
    Case(
        "cloudwatch-log-retention-1-year",
        "aws:cloudwatch/logGroup:LogGroup",
        "retentionInDays",
        90,
        name="api-network-flow-logs",
    ),
    Case(
        "eks-network-policy-enforced",
        "aws:eks/addon:Addon",
        "configurationValues",
        '{"enableNetworkPolicy": "false"}',
    ),
    Case(
        "vpc-default-security-group-closed",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "ingress",
        [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}],
    ),
    # Kubernetes
    Case(
        "k8s-run-as-non-root", "kubernetes:apps/v1:Deployment", f"{POD}.securityContext.runAsNonRoot", False
    ),
    Case(
        "k8s-read-only-root-filesystem",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.securityContext.readOnlyRootFilesystem",
        False,
    ),
    Case(
        "k8s-no-privilege-escalation",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.securityContext.allowPrivilegeEscalation",
        True,
    ),
    Case(
        "k8s-not-privileged", "kubernetes:apps/v1:Deployment", f"{CONTAINER}.securityContext.privileged", True
    ),
    Case(
        "k8s-drop-all-capabilities",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.securityContext.capabilities.drop",
        ["NET_RAW"],
        missing_names="capabilities.drop",
    ),
    Case(
        "k8s-liveness-probe",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.livenessProbe",
        {"periodSeconds": 10},
    ),
    Case(
        "k8s-readiness-probe",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.readinessProbe",
        {"periodSeconds": 5},
    ),
    Case(
        "k8s-resource-limits", "kubernetes:apps/v1:Deployment", f"{CONTAINER}.resources.limits", {"cpu": "1"}
    ),
    Case(
        "k8s-image-pinned",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.image",
        "ghcr.io/example/platform-api:latest",
    ),
    Case(
        "k8s-image-digest",
        "kubernetes:apps/v1:Deployment",
        f"{CONTAINER}.image",
        "ghcr.io/example/platform-api:1.0.0",
    ),
    Case(
        "k8s-no-service-account-token",
        "kubernetes:apps/v1:Deployment",
        f"{POD}.automountServiceAccountToken",
        True,
    ),
    # Cloudflare
    Case(
        "cloudflare-pool-monitored",
        "cloudflare:index/loadBalancerPool:LoadBalancerPool",
        "monitor",
        "",
        pending_reference=True,
    ),
    Case(
        "cloudflare-fallback-pool",
        "cloudflare:index/loadBalancer:LoadBalancer",
        "fallbackPool",
        "",
        pending_reference=True,
    ),
    Case(
        "cloudflare-weights-in-range",
        "cloudflare:index/loadBalancer:LoadBalancer",
        "randomSteering.poolWeights",
        {"stable-pool": 1.5, "canary-pool": 0.0},
    ),
    Case(
        "cloudflare-monitor-https",
        "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor",
        "type",
        "http",
    ),
]

# Rules judged on something other than one input: tested below, by hand.
BY_HAND = {
    "vpc-flow-logs",
    "vpc-default-security-group-managed",
    "stateful-resources-protected",
    "k8s-namespace-default-deny",
    "cloudflare-origin-credential",
}


def test_every_rule_has_its_cases() -> None:
    assert sorted(case.rule for case in CASES) == sorted(BY_ID.keys() - BY_HAND)
    assert len(RULES) >= 30


def _subject(case: Case, resources_in: Callable[[str], list[Resource]]) -> Resource:
    if case.props:
        return Resource(
            case.type, "planted", f"urn:pulumi:production::platform::{case.type}::planted", case.props
        )
    found = [r for r in resources_in("production") if r.type == case.type and case.name in (None, r.name)]
    assert found, f"the production stack declares no {case.type} {case.name or ''}"
    return found[0]


def _judge(case: Case, resource: Resource) -> list[Finding]:
    return BY_ID[case.rule].judge([resource], Context("production"))


def _id(case: Case) -> str:
    return case.rule


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_the_committed_resource_passes(case: Case, resources_in: Callable[[str], list[Resource]]) -> None:
    assert _judge(case, _subject(case, resources_in)) == []


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_a_missing_value_fails(case: Case, resources_in: Callable[[str], list[Resource]]) -> None:
    findings = _judge(case, without(_subject(case, resources_in), case.path))
    assert findings, "a missing value passed"
    assert not any(finding.unknown for finding in findings)
    named = case.missing_names or re.split(r"[.\]]", case.path)[-1]
    assert any(named in finding.message for finding in findings), findings


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_a_bad_value_fails(case: Case, resources_in: Callable[[str], list[Resource]]) -> None:
    subject = _subject(case, resources_in)
    findings = _judge(case, with_value(subject, case.path, case.bad))
    assert findings, "a bad value passed"
    assert {finding.resource for finding in findings} == {subject.label}
    assert not any(finding.unknown for finding in findings)
    # A refused value may be a secret: messages name settings, never secret values.
    assert not any("sk_live_never_printed" in finding.message for finding in findings)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_an_unknown_value_is_reported_not_passed(
    case: Case, resources_in: Callable[[str], list[Resource]]
) -> None:
    findings = _judge(case, with_value(_subject(case, resources_in), case.path, UNKNOWN))
    if case.pending_reference:
        assert findings == [], "the id of a resource created in the same update is a set reference"
        return
    assert findings, "an unknown value passed"
    assert all(finding.unknown for finding in findings)
    assert "can't be known during preview" in findings[0].message


# -- rules judged on relations and options ------------------------------------------------------

VPC = "aws:ec2/vpc:Vpc"


@pytest.mark.parametrize(
    ("rule_id", "attached"),
    [
        ("vpc-flow-logs", "aws:ec2/flowLog:FlowLog"),
        ("vpc-default-security-group-managed", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"),
    ],
)
def test_every_vpc_needs_its_attached_resource(
    rule_id: str, attached: str, resources_in: Callable[[str], list[Resource]]
) -> None:
    rule, stack = BY_ID[rule_id], resources_in("production")
    vpc = next(r for r in stack if r.type == VPC)

    def judge(resources: list[Resource]) -> list[Finding]:
        return rule.judge(resources, Context("production"))

    # Passes as committed.
    assert judge(stack) == []
    # Missing: the attached resource is not declared.
    missing = judge([r for r in stack if r.type != attached])
    assert [(f.resource, f.unknown) for f in missing] == [(vpc.label, False)]
    # Bad: it is declared, but for another VPC.
    elsewhere = [
        dataclasses.replace(
            r, property_dependencies={"vpcId": ["urn:pulumi:production::platform::other-vpc"]}
        )
        if r.type == attached
        else r
        for r in stack
    ]
    assert [f.resource for f in judge(elsewhere)] == [vpc.label]
    # Unknown: in a first preview the VPC's id is unknown, but which resource it comes from is
    # not (property dependencies are always known), so the link is still judged, and holds.
    unknown_id = [with_value(r, "vpcId", UNKNOWN) if r.type == attached else r for r in stack]
    assert judge(unknown_id) == []


def test_stateful_resources_must_be_protected(resources_in: Callable[[str], list[Resource]]) -> None:
    rule = BY_ID["stateful-resources-protected"]
    stateful = [r for r in resources_in("production") if r.type in rule.resource_types]
    assert sorted(r.type for r in stateful) == sorted(rule.resource_types)

    def judge(resources: list[Resource]) -> list[Finding]:
        return rule.judge(resources, Context("production"))

    assert judge(stateful) == []
    # Missing (the option not given) and bad (given as false) are the same value to the engine.
    unprotected = [dataclasses.replace(r, protect=False) for r in stateful]
    assert sorted(f.resource for f in judge(unprotected)) == sorted(r.label for r in stateful)
    # Unknown: `protect` is an option, never unknown; a resource whose inputs are all unknown is
    # still judged on it.
    all_unknown = [dataclasses.replace(r, props=dict.fromkeys(r.props, UNKNOWN)) for r in stateful]
    assert judge(all_unknown) == []
    assert len(judge([dataclasses.replace(r, protect=False) for r in all_unknown])) == len(stateful)


NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def test_every_namespace_needs_a_default_deny_network_policy(
    resources_in: Callable[[str], list[Resource]],
) -> None:
    rule, stack = BY_ID["k8s-namespace-default-deny"], resources_in("production")
    namespace = next(r for r in stack if r.type == NAMESPACE)

    def judge(resources: list[Resource]) -> list[Finding]:
        return rule.judge(resources, Context("production"))

    # Passes as committed: a default deny beside the API's named allows.
    assert judge(stack) == []
    # Missing: no NetworkPolicy at all (the scanners' CKV2_K8S_6).
    missing = judge([r for r in stack if r.type != NETWORK_POLICY])
    assert [(f.resource, f.unknown) for f in missing] == [(namespace.label, False)]
    # Bad: the default deny allows everything in, or selects only some pods.
    allow_all = [
        with_value(r, "spec.ingress", [{}])
        if r.type == NETWORK_POLICY and r.name == "api-default-deny"
        else r
        for r in stack
    ]
    some_pods = [
        with_value(r, "spec.podSelector", {"matchLabels": {"app": "api"}})
        if r.name == "api-default-deny"
        else r
        for r in stack
    ]
    for bad in (allow_all, some_pods):
        assert [f.resource for f in judge(bad)] == [namespace.label]
    # Unknown: the namespace's name is unknown in a first preview, but which namespace the policy's
    # metadata comes from is not (property dependencies), so the link is still judged, and holds.
    unknown_name = [
        with_value(r, "metadata.namespace", UNKNOWN) if r.type == NETWORK_POLICY else r for r in stack
    ]
    assert judge(unknown_name) == []


def test_every_load_balanced_hostname_gets_the_origin_credential(
    resources_in: Callable[[str], list[Resource]],
) -> None:
    rule, stack = BY_ID["cloudflare-origin-credential"], resources_in("production")
    balancers = sorted(r.label for r in stack if r.type == "cloudflare:index/loadBalancer:LoadBalancer")
    ruleset = "cloudflare:index/ruleset:Ruleset"

    def judge(resources: list[Resource]) -> list[Finding]:
        return rule.judge(resources, Context("production"))

    assert judge(stack) == []
    # Missing: no transform rule adds the credential; every origin then admits any Cloudflare
    # customer's traffic (or refuses this zone's too).
    assert sorted(f.resource for f in judge([r for r in stack if r.type != ruleset])) == balancers
    # Bad: the rule covers the web hostname only, or is disabled.
    web_only = [
        with_value(r, "rules[0].expression", '(http.host in {"www.example.com"})') if r.type == ruleset else r
        for r in stack
    ]
    assert [f.resource for f in judge(web_only)] == [
        "api-traffic-load-balancer (cloudflare:index/loadBalancer:LoadBalancer)"
    ]
    disabled = [with_value(r, "rules[0].enabled", False) if r.type == ruleset else r for r in stack]
    assert sorted(f.resource for f in judge(disabled)) == balancers
    # Unknown: a value the rule reads cannot be seen; it is reported, never passed.
    unknown = [with_value(r, "rules", UNKNOWN) if r.type == ruleset else r for r in stack]
    findings = judge(unknown)
    assert findings and all(f.unknown for f in findings)
