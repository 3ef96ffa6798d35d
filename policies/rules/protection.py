"""Stateful resources cannot be deleted by a `pulumi up` or `destroy` that did not mean to."""

from __future__ import annotations

from collections.abc import Iterator

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule

STATEFUL = (
    "azure-native:dbforpostgresql:Server",  # the data
    "azure-native:keyvault:Vault",  # every secret
    "aws:kms/key:Key",  # without it, no Kubernetes secret can be read
    "aws:eks/cluster:Cluster",  # every workload
)


def _protected(resource: Resource, _: Context) -> Iterator[str]:
    if not resource.protect:
        yield "the resource is not protected; expected Pulumi's protect option, so deleting it is deliberate"


RULES: tuple[Rule, ...] = (
    ResourceRule(
        "stateful-resources-protected",
        "The database, the Key Vault, the KMS key and the EKS cluster are protected from deletion",
        Level.MANDATORY,
        Reference("AVM", "lock interface (CanNotDelete)"),
        STATEFUL,
        check=_protected,
    ),
)
