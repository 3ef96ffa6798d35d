"""How offline plans are shown to a person: an inventory of what a stack declares, and the
differences between the two stacks side by side."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from infra.offline import Plan
from infra.parity import Difference

# Inputs that carry a resource's Azure name, checked in order.
_AZURE_NAME_KEYS = (
    "name",
    "resourceGroupName",
    "virtualNetworkName",
    "vaultName",
    "serverName",
    "clusterName",
    "workspaceName",
    "resourceName",
)


def _azure_name(inputs: dict[str, object]) -> str:
    """The most specific name input: child resources also carry their parent's name."""
    specific = [key for key in inputs if key.endswith("Name") and key not in _AZURE_NAME_KEYS]
    for key in [*specific, *_AZURE_NAME_KEYS]:
        value = inputs.get(key)
        if isinstance(value, str):
            return value
    metadata = inputs.get("metadata")  # Kubernetes objects
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        return str(metadata["name"])
    return ""


def inventory(plan: Plan) -> Group:
    resources = Table(title=f"stack {plan.stack}: {len(plan.resources)} resources", title_justify="left")
    for column in ("type", "logical name", "cloud name", "component", "options"):
        resources.add_column(column, overflow="fold")
    for resource in sorted(plan.resources, key=lambda r: (r.parent, r.type, r.name)):
        options = ["protect"] if resource.protect else []
        options += [f"ignore {path}" for path in resource.ignore_changes]
        resources.add_row(
            resource.type.removeprefix("azure-native:"),
            resource.name,
            _azure_name(resource.inputs),
            resource.parent,
            ", ".join(options),
        )
    outputs = Table(title="outputs", title_justify="left")
    outputs.add_column("name", overflow="fold")
    outputs.add_column("value", overflow="fold")
    for name, value in sorted(plan.outputs.items()):
        outputs.add_row(name, str(value))
    return Group(resources, outputs)


def parity_table(staging: Plan, production: Plan, differences: list[Difference]) -> Group:
    flagged = [d for d in differences if d.flagged]
    table = Table(
        title=(
            f"staging ({len(staging.resources)} resources) vs production ({len(production.resources)} "
            f"resources): {len(differences)} differences, {len(flagged)} flagged"
        ),
        title_justify="left",
    )
    for column in ("resource and input", "staging", "production", "allowed by"):
        table.add_column(column, overflow="fold")
    for difference in differences:
        table.add_row(
            difference.path,
            str(difference.staging),
            str(difference.production),
            difference.source or "[bold red]FLAGGED: not in the sizing table or a stack value[/]",
        )
    return Group(table)
