"""Key Vault and the app's secrets in it."""

from __future__ import annotations

from contract import SECRET_APP_SETTINGS, key_vault_secret_name
from infra.azure.app_secrets import KEY_VAULT_SECRETS_USER
from infra.azure.key_vault import key_vault_reference
from infra.offline import SECRET, Plan

VAULT = "azure-native:keyvault:Vault"


def test_vault_uses_rbac_purge_protection_and_90_day_soft_delete(plan: Plan) -> None:
    properties = plan.one(VAULT).inputs["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enablePurgeProtection"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["softDeleteRetentionInDays"] == 90


def test_vault_is_private(plan: Plan) -> None:
    properties = plan.one(VAULT).inputs["properties"]
    assert properties["publicNetworkAccess"] == "Disabled"
    assert properties["networkAcls"]["defaultAction"] == "Deny"
    endpoint = plan.one("azure-native:network:PrivateEndpoint", "key-vault-private-link-endpoint")
    assert endpoint.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]


def test_vault_is_protected_from_deletion(plan: Plan) -> None:
    assert plan.one(VAULT).protect is True


def test_one_secret_per_secret_setting_and_every_value_is_a_pulumi_secret(plan: Plan) -> None:
    secrets = plan.of_type("azure-native:keyvault:Secret")
    assert sorted(s.inputs["secretName"] for s in secrets) == sorted(
        map(key_vault_secret_name, SECRET_APP_SETTINGS)
    )
    # The properties reach the engine marked secret; the offline plan shows a stack secret's
    # properties with the value masked (infra/offline.py), the others masked whole.
    for found in secrets:
        properties = found.inputs["properties"]
        assert properties == SECRET or properties == {"contentType": "text/plain", "value": SECRET}


def test_both_slots_may_read_secrets_and_nothing_else_can(plan: Plan) -> None:
    readers = [
        r
        for r in plan.of_type("azure-native:authorization:RoleAssignment")
        if r.inputs["roleDefinitionId"].endswith(KEY_VAULT_SECRETS_USER)
    ]
    assert sorted(r.name for r in readers) == ["app-secrets-production-reader", "app-secrets-staging-reader"]
    assert {r.inputs["principalType"] for r in readers} == {"ServicePrincipal"}


def test_reference_is_versionless_and_names_the_vault() -> None:
    assert (
        key_vault_reference("platform-production-kv", "STRIPE_SECRET_KEY")
        == "@Microsoft.KeyVault(VaultName=platform-production-kv;SecretName=stripe-secret-key)"
    )
