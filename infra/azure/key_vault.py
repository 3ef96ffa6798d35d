"""The Key Vault holding every application secret, reachable only through its private endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import keyvault

from contract import key_vault_secret_name
from infra.azure.diagnostics import send_to_workspace
from infra.azure.network import Network
from infra.azure.placement import Placement
from infra.azure.private_link import PrivateLink


def key_vault_reference(vault_name: str, app_setting: str) -> str:
    """An App Service Key Vault reference to the latest version of the setting's secret.

    Versionless on purpose: App Service re-reads it within 24 hours of a rotation (or on restart)
    without a deployment. Named by vault rather than by URI, so the reference is known before the
    vault exists (a first `pulumi preview` shows it, and the policy pack can check it) and holds in
    every Azure cloud, whatever its Key Vault DNS suffix.
    """
    return f"@Microsoft.KeyVault(VaultName={vault_name};SecretName={key_vault_secret_name(app_setting)})"


@dataclass(frozen=True)
class KeyVaultArgs:
    purge_protection: bool
    soft_delete_days: int
    public_network_access: Literal["Enabled", "Disabled"]
    protect: bool  # Pulumi `protect`: losing the vault loses every secret


class KeyVault(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        placement: Placement,
        args: KeyVaultArgs,
        *,
        tenant_id: pulumi.Input[str],
        network: Network,
        workspace_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:KeyVault", name, None, opts)

        self.vault_name = placement.name("kv")
        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=self.vault_name,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                # Access through Azure RBAC role assignments only: no access policies to drift.
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=args.soft_delete_days,
                enable_purge_protection=args.purge_protection,
                public_network_access=args.public_network_access,
                network_acls=keyvault.NetworkRuleSetArgs(default_action="Deny", bypass="None"),
            ),
            tags=dict(placement.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        PrivateLink(
            f"{name}-private-link",
            placement,
            target_id=vault.id,
            group_id="vault",
            dns_zone="privatelink.vaultcore.azure.net",
            subnet_id=network.private_endpoint_subnet_id,
            vnet_id=network.vnet_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        send_to_workspace(f"{name}-diagnostics", vault.id, workspace_id, parent=self)

        self.vault_id = vault.id
        self.vault_uri = vault.properties.apply(lambda properties: properties.vault_uri or "")
        self.register_outputs({"vault_id": self.vault_id, "vault_uri": self.vault_uri})
