"""The application's secrets in Key Vault, and who may read them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_azure_native import authorization, keyvault

from contract import key_vault_secret_name
from infra.azure.key_vault import KeyVault
from infra.azure.placement import Placement
from infra.azure.web_app import AppIdentity

# Built-in role definition ids (the same in every Azure tenant).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
    )


class AppSecrets(pulumi.ComponentResource):
    """One Key Vault secret per secret app setting, readable by the app's identities only.

    Values arrive as Pulumi secrets (from secret configuration or from resource outputs) and are
    written by the identity running `pulumi up`, which is given "Key Vault Secrets Officer" on this
    vault alone. The vault has no public network access, so `pulumi up` must run from a network
    that reaches its private endpoint (a runner inside the VNet, or through a peered network).
    """

    def __init__(
        self,
        name: str,
        placement: Placement,
        *,
        vault: KeyVault,
        values: Mapping[str, pulumi.Input[str]],
        readers: Sequence[AppIdentity],
        deployer_object_id: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:AppSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        writer = authorization.RoleAssignment(
            f"{name}-deployer-officer",
            scope=vault.vault_id,
            principal_id=deployer_object_id,
            role_definition_id=role_definition_id(subscription_id, KEY_VAULT_SECRETS_OFFICER),
            opts=child,
        )
        for app_setting, value in values.items():
            keyvault.Secret(
                f"{name}-{key_vault_secret_name(app_setting)}",
                secret_name=key_vault_secret_name(app_setting),
                vault_name=vault.vault_name,
                resource_group_name=placement.resource_group_name,
                properties=keyvault.SecretPropertiesArgs(
                    value=pulumi.Output.secret(value), content_type="text/plain"
                ),
                tags=dict(placement.tags),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[writer]),
            )
        for reader in readers:
            authorization.RoleAssignment(
                f"{name}-{reader.slot}-reader",
                scope=vault.vault_id,
                principal_id=reader.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(subscription_id, KEY_VAULT_SECRETS_USER),
                opts=child,
            )
        self.register_outputs({})
