"""Staging must mirror production (the runbooks' rule): every difference between the two stacks'
desired state, each either explained by where it may come from or flagged.

The desired state is the offline plan flattened to one value per input path of each resource,
plus its options (protect, ignore_changes, parent). Values that name the stack, and the offline
stand-ins for cloud-computed ids, are normalised first, so what remains is a real difference.

`ALLOWED_DIFFERENCES` is the reviewed list of where a difference may come from: the per-stack
sizing table (`SIZING` in infra/settings.py) or a per-stack value of the stack file. Anything else,
a security setting above all, is flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.offline import Plan

_SIZING = "SIZING"
_ZONE = r"[a-z]{2}-[a-z]+-\d[a-z]"

# Path pattern (`<type>/<logical name> <input path>`, or `<type>/<logical name>` for a resource
# only one stack declares) -> where that difference comes from.
ALLOWED_DIFFERENCES: dict[str, str] = {
    # Azure
    r"^web:AppServicePlan/web-plan \.(sku\.name|sku\.capacity|zoneRedundant)$": _SIZING,
    r"^dbforpostgresql:Server/postgres-server "
    r"\.(sku\.name|sku\.tier|storage\.storageSizeGB|backup\.\w+|highAvailability\.mode)$": _SIZING,
    r"^dbforpostgresql:Configuration/postgres-max-connections \.value$": _SIZING,
    r"^redisenterprise:RedisEnterprise/redis-cluster \.(sku\.name|highAvailability)$": _SIZING,
    r"^operationalinsights:Workspace/monitoring-workspace \.retentionInDays$": _SIZING,
    r"^monitor:MetricAlert/alerts-postgres-connections "
    r"\.(criteria\.allOf\[0\]\.threshold|description)$": _SIZING,
    r"^network:VirtualNetwork/network-vnet "
    r"\.(addressSpace\.addressPrefixes\[0\]|subnets\[\d\]\.addressPrefix)$": "stack file: vnetAddressSpace",
    r"^network:NetworkSecurityGroup/network-[\w-]+-nsg "
    r"\.securityRules\[\d+\]\.(source|destination)AddressPrefix$": "stack file: vnetAddressSpace (subnets)",
    r"^monitor:ActionGroup/monitoring-action-group \.groupShortName$": "name (12 characters)",
    r"^monitor:ActionGroup/monitoring-action-group \.emailReceivers\[\d\]\.\w+$": "stack file: alertEmails",
    r"^web:(WebApp/web-app|WebAppSlot/web-staging-slot) \.siteConfig\.appSettings\[1\]\.value$": (
        "stack file: publicHostname (NEXTAUTH_URL)"
    ),
    # AWS: zones, NAT gateways, node group, log retention
    rf"^aws:ec2/(subnet|routeTable|routeTableAssociation|natGateway|eip):\w+/api-network-[a-z-]+-{_ZONE}$": (
        "SIZING (availability_zones, nat_gateway_per_zone)"
    ),
    rf"^aws:ec2/routeTable:RouteTable/api-network-private-routes-{_ZONE} \.routes\[0\]\.natGatewayId$": (
        "SIZING (nat_gateway_per_zone)"
    ),
    r"^aws:eks/(cluster:Cluster/api-cluster-cluster \.vpcConfig\.subnetIds"
    r"|nodeGroup:NodeGroup/api-nodes-nodes \.subnetIds)\[\d\]$": "SIZING (availability_zones)",
    r"^aws:eks/nodeGroup:NodeGroup/api-nodes-nodes \.(instanceTypes\[\d\]|scalingConfig\.\w+)$": _SIZING,
    r"^aws:ec2/(vpc:Vpc|subnet:Subnet)/api-network-[\w-]+ \.cidrBlock$": "stack file: vpcCidr",
    # Kubernetes
    r"^kubernetes:apps/v1:Deployment/api-(blue|green) \.spec\.replicas$": "SIZING (api_min_replicas)",
    r"^kubernetes:networking\.k8s\.io/v1:NetworkPolicy/api-allow-[\w-]+ "
    r"\.spec\.(ingress|egress)\[0\]\.(from|to)\[0\]\.ipBlock\.cidr$": "stack file: vpcCidr",
    r"^kubernetes:autoscaling/v2:HorizontalPodAutoscaler/api-(blue|green)-hpa \.spec\.(min|max)Replicas$": (
        _SIZING
    ),
    r"^kubernetes:core/v1:Service/api-(active|preview) "
    r"\.metadata\.annotations\.service\.beta\.kubernetes\.io/aws-load-balancer-ssl-cert$": (
        "stack file: apiCertificateArn"
    ),
    # Cloudflare
    r"^cloudflare:index/ruleset:Ruleset/origin-credential-ruleset \.rules\[0\]\.expression$": (
        "stack files: publicHostname, apiHostname"
    ),
    r"^cloudflare:index/\w+:\w+/web-traffic-[\w-]+ \.(name|description|header\.Host\[0\])$": (
        "stack file: publicHostname"
    ),
    r"^cloudflare:index/\w+:\w+/api-traffic-[\w-]+ "
    r"\.(name|description|header\.Host\[0\]|origins\[0\]\.header\.hosts\[0\])$": "stack file: apiHostname",
}

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STACK = re.compile(r"staging|production")
MISSING = "(not declared)"


@dataclass(frozen=True)
class Difference:
    path: str
    staging: Any
    production: Any
    source: str | None  # where it may come from; None: flagged

    @property
    def flagged(self) -> bool:
        return self.source is None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "staging": self.staging,
            "production": self.production,
            "allowed_by": self.source,
        }


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{path}[{i}]").items()}
    if isinstance(value, str):
        # Names carry the stack; offline Azure ids carry per-stack UUIDs. Neither is a difference.
        value = _UUID.sub("<uuid>", _STACK.sub("<stack>", value))
    return {path: value}


def _where(type_token: str, name: str) -> str:
    return f"{type_token.removeprefix('azure-native:')}/{name}"


def desired_state(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per resource (`<type>/<name>`), its options and every input value by path."""
    return {
        _where(r.type, r.name): {
            "options": (r.protect, sorted(r.ignore_changes), r.parent),
            **_flatten(r.inputs),
        }
        for r in plan.resources
    }


def _source(path: str) -> str | None:
    return next((source for pattern, source in ALLOWED_DIFFERENCES.items() if re.search(pattern, path)), None)


def compare(staging: Plan, production: Plan) -> list[Difference]:
    """Every difference, sorted by path. A resource only one stack declares is one difference."""
    left, right = desired_state(staging), desired_state(production)
    differences = []
    for resource in sorted(left.keys() | right.keys()):
        if resource not in left or resource not in right:
            differences.append(
                Difference(
                    resource,
                    "declared" if resource in left else MISSING,
                    "declared" if resource in right else MISSING,
                    _source(resource),
                )
            )
            continue
        before, after = left[resource], right[resource]
        for key in sorted(before.keys() | after.keys()):
            if before.get(key, MISSING) != after.get(key, MISSING):
                path = f"{resource} {key}"
                differences.append(
                    Difference(path, before.get(key, MISSING), after.get(key, MISSING), _source(path))
                )
    return differences
