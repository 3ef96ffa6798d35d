"""The offline plan's document: its shape and its secret masking."""

from __future__ import annotations

import json

from pulumi.runtime import rpc

from infra.offline import SECRET, Plan, mask_secrets


def secret(value: object) -> dict[str, object]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}  # pyright: ignore[reportPrivateUsage]


def test_mask_secrets_replaces_secrets_at_any_depth() -> None:
    value = {"a": secret("s3cret"), "b": [1, {"c": secret({"d": "x"})}], "e": "plain"}
    assert mask_secrets(value) == {"a": SECRET, "b": [1, {"c": SECRET}], "e": "plain"}


def test_plan_document_has_the_documented_shape(plan: Plan) -> None:
    document = json.loads(json.dumps(plan.to_json()))
    assert set(document) == {"stack", "resources", "outputs"}
    assert document["stack"] == plan.stack
    assert isinstance(document["outputs"], dict)
    for resource in document["resources"]:
        assert {"type", "name", "inputs"} <= set(resource)
        assert resource["type"].startswith("azure-native:")
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
    ):
        assert expected in types


def test_every_resource_is_parented_to_a_component(plan: Plan) -> None:
    top_level = [r.name for r in plan.resources if not r.parent]
    assert top_level == ["resource-group"]
