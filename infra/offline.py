"""The offline plan: run the Pulumi program under Pulumi's own mocks and record what it declares.

No credentials and no Pulumi CLI are needed. The program runs exactly as under `pulumi up` (same
settings loader, same components); only the engine is replaced by a mock monitor that records each
resource's type, logical name, inputs (wire names, as the engine receives them) and options. Values
the cloud would compute (ids, hostnames, principal ids) are deterministic stand-ins, as a preview of
a stack that exists sees them; with `new_stack`, they stay unknown, as in the first preview of a
stack that does not exist yet. Every value Pulumi marks secret is replaced by "[secret]" before it
leaves this module; an unknown value is Pulumi's own unknown marker (`UNKNOWN`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import mocks, rpc

from infra.settings import PROJECT, Settings, load_settings
from infra.stack_files import OFFLINE_SECRET_PLACEHOLDER, load_stack_config

SECRET = "[secret]"
# What the engine sends for a value not known until the resource exists (also pulumi_policy's).
UNKNOWN = rpc.UNKNOWN


@dataclass(frozen=True)
class PlannedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list[str])
    parent: str = ""
    urn: str = ""
    # Input name -> URNs of the resources its value comes from (known even when the value is not).
    property_dependencies: dict[str, list[str]] = field(default_factory=dict[str, list[str]])

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "inputs": self.inputs,
            "options": {
                "protect": self.protect,
                "ignoreChanges": self.ignore_changes,
                "parent": self.parent,
            },
        }


@dataclass(frozen=True)
class Plan:
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> PlannedResource:
        """The single resource of a type (and logical name, if given); fails loudly otherwise."""
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_token} {name or ''}, found {len(found)}")
        return found[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [resource.to_json() for resource in self.resources],
            "outputs": self.outputs,
        }


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _partly_placeholder(value: Any) -> bool:
    """Some of the value's leaves carry a stack secret's placeholder, and some do not."""
    carries = [isinstance(leaf, str) and OFFLINE_SECRET_PLACEHOLDER in leaf for leaf in _leaves(value)]
    return any(carries) and not all(carries)


def mask_secrets(value: Any, inside_secret: bool = False) -> Any:
    """Replace every Pulumi secret inside a deserialized property value by "[secret]", and every
    unknown value by the engine's unknown marker.

    Pulumi's Python SDK marks a whole input secret when any value nested in it is (a `siteConfig`
    holding the origin credential in one access restriction). When such an input is secret because
    part of it is a stack secret (offline: a placeholder), it is shown with its structure and only
    the strings carrying the placeholder masked, so the rules judge the rest; any other secret
    input stays "[secret]" whole. No secret, not even a placeholder, is printed."""
    if rpc.is_rpc_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        if isinstance(inner, dict | list) and _partly_placeholder(inner):
            return mask_secrets(inner, inside_secret=True)
        return SECRET
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {key: mask_secrets(item, inside_secret) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, inside_secret) for item in value]
    if isinstance(value, str) and inside_secret and OFFLINE_SECRET_PLACEHOLDER in value:
        return SECRET
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("offline", *parts))))


def _hex(*parts: str) -> str:
    """32 hex digits: the form of Cloudflare's ids and of EKS's endpoint and issuer ids. Derived
    from the logical name only, so both stacks get the same stand-ins (they are not differences)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("offline", *parts))).hex


# The property each type is named by (its Azure name): what the provider returns as `name`.
_NAME_INPUT = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:network:VirtualNetwork": "virtualNetworkName",
    "azure-native:network:PrivateEndpoint": "privateEndpointName",
    "azure-native:privatedns:PrivateZone": "privateZoneName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:dbforpostgresql:Server": "serverName",
    "azure-native:dbforpostgresql:Database": "databaseName",
    "azure-native:redisenterprise:RedisEnterprise": "clusterName",
    "azure-native:redisenterprise:Database": "databaseName",
    "azure-native:managedidentity:UserAssignedIdentity": "resourceName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:web:WebApp": "name",
    "azure-native:web:AppServicePlan": "name",
}


def _marked(value: Any) -> Any:
    """Unknown values (inputs that depend on what the cloud computes) as the engine's marker."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {key: _marked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item) for item in value]
    return value


def _echoed(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs as a provider returns them. Inputs list user-assigned identity ids; the provider
    returns a map of id -> details."""
    identity = inputs.get("identity")
    if not isinstance(identity, dict):
        return inputs
    attached = {key: {} for key in identity.get("userAssignedIdentities") or []}
    return {**inputs, "identity": {**identity, "userAssignedIdentities": attached}}


def _computed(stack: str, type_token: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Stand-ins for what the clouds compute on creation, derived from the inputs."""
    name_input = _NAME_INPUT.get(type_token, "" if type_token.startswith("azure-native:") else "name")
    azure_name = inputs.get(name_input, name)
    state: dict[str, Any] = {"name": azure_name}
    if type_token.startswith("aws:"):
        state["arn"] = f"arn:aws:{type_token.split(':')[1].split('/')[0]}::123456789012:{name}"
    identity = _echoed(inputs).get("identity")
    if isinstance(identity, dict):
        state["identity"] = {**identity, "principalId": _uuid(stack, name, "principal")}
    extra: dict[str, Callable[[], dict[str, Any]]] = {
        "azure-native:web:WebApp": lambda: {"defaultHostName": f"{azure_name}.azurewebsites.net"},
        "azure-native:web:WebAppSlot": lambda: {
            "defaultHostName": f"{inputs['name']}-{inputs['slot']}.azurewebsites.net"
        },
        "azure-native:keyvault:Vault": lambda: {
            "properties": {**inputs["properties"], "vaultUri": f"https://{azure_name}.vault.azure.net/"}
        },
        "azure-native:dbforpostgresql:Server": lambda: {
            "fullyQualifiedDomainName": f"{azure_name}.postgres.database.azure.com"
        },
        "azure-native:redisenterprise:RedisEnterprise": lambda: {
            "hostName": f"{azure_name}.{inputs['location']}.redis.azure.net"
        },
        "azure-native:managedidentity:UserAssignedIdentity": lambda: {
            "principalId": _uuid(stack, name, "principal"),
            "clientId": _uuid(stack, name, "client"),
        },
        # The workspace's id as the Log Analytics query API names it (a GUID).
        "azure-native:operationalinsights:Workspace": lambda: {"customerId": _uuid(stack, name, "customer")},
        "azure-native:applicationinsights:Component": lambda: {
            "connectionString": f"InstrumentationKey={_uuid(stack, name, 'key')}"
        },
        "azure-native:network:PublicIPAddress": lambda: {"ipAddress": "192.0.2.10"},
        "aws:eks/cluster:Cluster": lambda: {
            "endpoint": f"https://{_hex(name)}.gr7.eu-west-1.eks.amazonaws.com",
            "certificateAuthority": {"data": "b2ZmbGluZS1jYQ=="},
            "identities": [
                {"oidcs": [{"issuer": f"https://oidc.eks.eu-west-1.amazonaws.com/id/{_hex(name)}"}]}
            ],
        },
        "aws:kms/key:Key": lambda: {"keyId": _uuid(stack, name)},
        "aws:ec2/launchTemplate:LaunchTemplate": lambda: {"latestVersion": 1},
        "kubernetes:core/v1:Service": lambda: {
            "status": {
                "loadBalancer": {"ingress": [{"hostname": f"{name}-{_hex(name)[:8]}.elb.amazonaws.com"}]}
            }
        },
    }
    if type_token in extra:
        state.update(extra[type_token]())
    return state


class _OfflineMocks(pulumi.runtime.Mocks):
    def __init__(self, stack: str, *, new_stack: bool) -> None:
        self.stack = stack
        self.new_stack = new_stack

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if self.new_stack:
            # A provider's preview of a create: the inputs come back, the id and everything the
            # cloud computes stay unknown.
            return "", _echoed(_marked(inputs))
        cloudflare = args.typ.startswith("cloudflare:")
        resource_id = _hex(args.typ, args.name) if cloudflare else f"/offline/{args.typ}/{args.name}"
        return resource_id, {
            **inputs,
            **_computed(self.stack, args.typ, args.name, inputs),
        }

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": _uuid(self.stack, "deployer-client"),
                "objectId": _uuid(self.stack, "deployer-object"),
                "subscriptionId": _uuid(self.stack, "subscription"),
                "tenantId": _uuid("tenant"),
            }, []
        raise NotImplementedError(f"the offline plan has no stand-in for {args.token}")


def _component_name(parent_urn: str) -> str:
    """The logical name of the component a resource belongs to ("" at the stack's top level)."""
    if not parent_urn or parent_urn.split("::")[-2].endswith("pulumi:pulumi:Stack"):
        return ""
    return parent_urn.rsplit("::", 1)[-1]


class _RecordingMonitor(mocks.MockMonitor):
    """The mock engine, also keeping what the real engine would be asked to create."""

    def __init__(self, stack_mocks: _OfflineMocks) -> None:
        super().__init__(stack_mocks)
        self.recorded: list[PlannedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.custom:
            self.recorded.append(
                PlannedResource(
                    type=request.type,
                    name=request.name,
                    inputs=mask_secrets(rpc.deserialize_properties(request.object, keep_unknowns=True)),
                    protect=bool(request.protect),
                    ignore_changes=list(request.ignoreChanges),
                    parent=_component_name(request.parent),
                    urn=response.urn,
                    property_dependencies={
                        key: list(dependencies.urns)
                        for key, dependencies in request.propertyDependencies.items()
                    },
                )
            )
        return response


def run_offline(
    project_dir: Path,
    stack: str,
    program: Callable[[Settings], dict[str, pulumi.Output[Any]]],
    *,
    new_stack: bool = False,
) -> Plan:
    """Load the stack's configuration from its files, run `program` under mocks, return the plan.

    `new_stack` plans as the first preview of a stack that does not exist yet: every value a cloud
    computes is unknown. Raises SettingsError (before anything runs) when the configuration is
    invalid.
    """
    config = load_stack_config(project_dir, stack)
    pulumi.runtime.set_all_config(config.values, config.secret_keys)
    stack_mocks = _OfflineMocks(stack, new_stack=new_stack)
    monitor = _RecordingMonitor(stack_mocks)
    pulumi.runtime.set_mocks(stack_mocks, project=PROJECT, stack=stack, preview=new_stack, monitor=monitor)
    settings = load_settings()

    outputs: dict[str, Any] = {}

    async def resolve(exported: dict[str, pulumi.Output[Any]]) -> None:
        # Serialized as the engine would receive stack outputs, so secrets stay marked.
        serialized = await rpc.serialize_properties(exported, {})
        outputs.update(mask_secrets(rpc.deserialize_properties(serialized)))

    @pulumi.runtime.test
    def run() -> Any:
        return resolve(program(settings))

    run()
    return Plan(stack=stack, resources=monitor.recorded, outputs=outputs)
