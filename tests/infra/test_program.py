"""The whole program, per stack: what may differ between stacks, and what must never leak."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from infra.offline import SECRET, Plan
from infra.stack_files import OFFLINE_SECRET_PLACEHOLDER

# Every input path allowed to differ between staging and production, with where it comes from.
# Anything else that differs (a security setting, a forgotten resource) fails the test.
ALLOWED_DIFFERENCES: dict[str, str] = {
    r"web:AppServicePlan/web-plan \.(sku\.name|sku\.capacity|zoneRedundant)$": "SIZING",
    r"dbforpostgresql:Server/postgres-server "
    r"\.(sku\.name|sku\.tier|storage\.storageSizeGB|backup\.\w+|highAvailability\.mode)$": "SIZING",
    r"dbforpostgresql:Configuration/postgres-max-connections \.value$": "SIZING",
    r"redisenterprise:RedisEnterprise/redis-cluster \.(sku\.name|highAvailability)$": "SIZING",
    r"operationalinsights:Workspace/monitoring-workspace \.retentionInDays$": "SIZING",
    r"monitor:MetricAlert/alerts-postgres-connections "
    r"\.(criteria\.allOf\[0\]\.threshold|description)$": "SIZING",
    r"network:VirtualNetwork/network-vnet "
    r"\.(addressSpace\.addressPrefixes\[0\]|subnets\[\d\]\.addressPrefix)$": "stack file: vnetAddressSpace",
    r"monitor:ActionGroup/monitoring-action-group \.groupShortName$": "name (12 chars)",
    r"monitor:ActionGroup/monitoring-action-group \.emailReceivers\[\d\]\.\w+$": "stack file: alertEmails",
    r"web:(WebApp/web-app|WebAppSlot/web-staging-slot) \.siteConfig\.appSettings\[1\]\.value$": (
        "stack file: publicHostname (NEXTAUTH_URL)"
    ),
}

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()}
    if isinstance(value, str):
        # Names carry the stack; offline ids carry per-stack UUIDs. Neither is a difference.
        value = UUID.sub("<uuid>", re.sub("staging|production", "<stack>", value))
    return {path: value}


def desired_state(plan: Plan) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for resource in plan.resources:
        where = f"{resource.type.removeprefix('azure-native:')}/{resource.name}"
        state[f"{where} options"] = (resource.protect, resource.ignore_changes, resource.parent)
        for path, value in flatten(resource.inputs).items():
            state[f"{where} {path}"] = value
    return state


def test_stacks_differ_only_in_sizing_and_per_stack_values(plan_of: Callable[[str], Plan]) -> None:
    staging, production = desired_state(plan_of("staging")), desired_state(plan_of("production"))
    differences = sorted(
        key for key in staging.keys() | production.keys() if staging.get(key) != production.get(key)
    )
    unexplained = [key for key in differences if not any(re.search(p, key) for p in ALLOWED_DIFFERENCES)]
    assert unexplained == []
    # The check sees real differences: the sizing table does make the stacks differ.
    assert any("highAvailability" in key for key in differences)


def test_both_stacks_declare_the_same_resources(plan_of: Callable[[str], Plan]) -> None:
    def inventory(plan: Plan) -> list[tuple[str, str]]:
        return sorted((r.type, r.name) for r in plan.resources)

    assert inventory(plan_of("staging")) == inventory(plan_of("production"))


def test_no_secret_value_appears_anywhere_in_the_plan(plan: Plan) -> None:
    text = json.dumps(plan.to_json())
    assert OFFLINE_SECRET_PLACEHOLDER not in text
    assert "InstrumentationKey=" not in text  # Application Insights connection string
    assert "postgresql://" not in text and "rediss://" not in text  # the URLs live in Key Vault only
    assert text.count(SECRET) >= 6  # ... and are there, masked: one per Key Vault secret


def test_outputs_are_plain_and_hold_no_secret(plan: Plan) -> None:
    assert plan.outputs
    for name, value in plan.outputs.items():
        assert value != SECRET, f"output {name} is a secret: do not export secrets"
        assert isinstance(value, str) and value, f"output {name} is empty"
