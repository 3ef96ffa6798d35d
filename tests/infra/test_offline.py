"""The offline plan's document: its shape and its secret masking."""

from __future__ import annotations

import json

from pulumi.runtime import rpc

from infra.offline import SECRET, Plan, mask_secrets
from infra.stack_files import OFFLINE_SECRET_PLACEHOLDER


def secret(value: object) -> dict[str, object]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}  # pyright: ignore[reportPrivateUsage]


def test_mask_secrets_replaces_secrets_at_any_depth() -> None:
    value = {"a": secret("s3cret"), "b": [1, {"c": secret({"d": "x"})}], "e": "plain"}
    assert mask_secrets(value) == {"a": SECRET, "b": [1, {"c": SECRET}], "e": "plain"}


def test_an_input_secret_for_one_stack_secret_inside_is_shown_with_only_that_masked() -> None:
    """Pulumi marks a whole input secret when one nested value is (an access restriction holding
    the origin credential inside `siteConfig`): the rules still see the rest of it."""
    site_config = secret({"minTlsVersion": "1.2", "headers": {"X-Azure-FDID": [OFFLINE_SECRET_PLACEHOLDER]}})
    only_a_secret = secret({"value": OFFLINE_SECRET_PLACEHOLDER})
    assert mask_secrets({"siteConfig": site_config, "properties": only_a_secret}) == {
        "siteConfig": {"minTlsVersion": "1.2", "headers": {"X-Azure-FDID": [SECRET]}},
        "properties": SECRET,
    }


def test_plan_document_has_the_documented_shape(plan: Plan) -> None:
    document = json.loads(json.dumps(plan.to_json()))
    assert set(document) == {"stack", "resources", "outputs"}
    assert document["stack"] == plan.stack
    assert isinstance(document["outputs"], dict)
    for resource in document["resources"]:
        assert {"type", "name", "inputs"} <= set(resource)
        assert resource["type"].split(":")[0] in {"azure-native", "aws", "kubernetes", "cloudflare", "pulumi"}
        assert isinstance(resource["inputs"], dict)


def test_plan_lists_every_resource_the_issue_asks_for(plan: Plan) -> None:
    types = {resource.type for resource in plan.resources}
    for expected in (
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        "azure-native:operationalinsights:Workspace",
        "azure-native:applicationinsights:Component",
        "azure-native:monitor:ActionGroup",
        "azure-native:monitor:ScheduledQueryRule",
        "azure-native:monitor:MetricAlert",
        "azure-native:web:AppServicePlan",
        "azure-native:web:WebApp",
        "azure-native:web:WebAppSlot",
        "azure-native:dbforpostgresql:Server",
        "azure-native:dbforpostgresql:Database",
        "azure-native:redisenterprise:RedisEnterprise",
        "azure-native:redisenterprise:Database",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Secret",
        # The API on EKS and the Cloudflare load balancers.
        "aws:ec2/vpc:Vpc",
        "aws:kms/key:Key",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "kubernetes:core/v1:Namespace",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor",
        "cloudflare:index/loadBalancerPool:LoadBalancerPool",
        "cloudflare:index/loadBalancer:LoadBalancer",
    ):
        assert expected in types
    # Per released service: a monitor, two pools and a load balancer.
    for service in ("web", "api"):
        mine = [r.type.split(":")[-1] for r in plan.resources if r.parent == f"{service}-traffic"]
        assert sorted(mine) == ["LoadBalancer", "LoadBalancerMonitor", "LoadBalancerPool", "LoadBalancerPool"]


def test_every_resource_is_parented_to_a_component(plan: Plan) -> None:
    top_level = sorted(r.name for r in plan.resources if not r.parent)
    # Besides the resource group, only the providers: AWS's (region, default tags) and the cluster's.
    assert top_level == ["api-kubernetes", "aws", "resource-group"]
