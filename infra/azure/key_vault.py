"""The Key Vault holding every application secret, reachable only through its private endpoint."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import keyvault

from infra.azure.diagnostics import send_to_workspace
from infra.azure.network import Network
from infra.azure.placement import Placement
from infra.azure.private_link import PrivateLink


def secret_name(app_setting: str) -> str:
    """Key Vault secret names allow letters, digits and dashes: DATABASE_URL -> database-url."""
    return app_setting.lower().replace("_", "-")


def key_vault_reference(vault_uri: str, app_setting: str) -> str:
    """An App Service Key Vault reference to the latest version of the setting's secret.

    Versionless on purpose: App Service re-reads it within 24 hours of a rotation (or on restart)
    without a deployment.
    """
    return f"@Microsoft.KeyVault(SecretUri={vault_uri.rstrip('/')}/secrets/{secret_name(app_setting)}/)"


class KeyVault(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        placement: Placement,
        *,
        tenant_id: pulumi.Input[str],
        network: Network,
        workspace_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:KeyVault", name, None, opts)

        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=placement.name("kv"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                # Access through Azure RBAC role assignments only: no access policies to drift.
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                enable_purge_protection=True,
                public_network_access="Disabled",
                network_acls=keyvault.NetworkRuleSetArgs(default_action="Deny", bypass="None"),
            ),
            tags=dict(placement.tags),
            # Losing the vault loses every secret; deleting it must be a deliberate act.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
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
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda properties: properties.vault_uri or "")
        self.register_outputs({"vault_id": self.vault_id, "vault_uri": self.vault_uri})
