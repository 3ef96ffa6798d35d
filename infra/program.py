"""The platform's composition: which components exist and how they are wired together.

`build` declares every resource of one stack from a `Settings` object and returns the stack
outputs. It is called by `infra/__main__.py` under the Pulumi engine, and by the offline plan and
the tests under Pulumi's mocks.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import authorization, resources

from infra.azure.alerts import Alerts
from infra.azure.app_secrets import AppSecrets
from infra.azure.key_vault import KeyVault
from infra.azure.monitoring import Monitoring
from infra.azure.network import Network
from infra.azure.placement import Placement
from infra.azure.postgres import DATABASE_NAME, Postgres, PostgresArgs
from infra.azure.redis import REDIS_PORT, ManagedRedis, RedisArgs
from infra.azure.web_app import WebApp, WebAppArgs
from infra.settings import Settings

# The variables the deployment runbooks verify before every deploy that hold secrets. Each is a
# Key Vault secret and, in both slots, a Key Vault reference; never a plain value.
SECRET_APP_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "NEXTAUTH_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
)


def build(settings: Settings) -> dict[str, pulumi.Output[Any]]:
    sizing = settings.sizing
    config = settings.config
    client = authorization.get_client_config_output()

    group = resources.ResourceGroup(
        "resource-group",
        resource_group_name=f"{settings.resource_prefix}-rg",
        location=config.location,
        tags=settings.tags,
    )
    placement = Placement(
        resource_group_name=group.name,
        location=config.location,
        tags=settings.tags,
        prefix=settings.resource_prefix,
    )

    network = Network("network", placement, config.vnet_address_space)
    monitoring = Monitoring(
        "monitoring",
        placement,
        retention_days=sizing.log_retention_days,
        alert_emails=config.alert_emails,
    )
    vault = KeyVault(
        "key-vault",
        placement,
        tenant_id=client.tenant_id,
        network=network,
        workspace_id=monitoring.workspace_id,
    )
    web = WebApp(
        "web",
        placement,
        WebAppArgs(
            sku=sizing.app_service_sku,
            workers=sizing.app_service_workers,
            zone_redundant=sizing.app_service_zone_redundant,
            initial_image=config.web_initial_image,
            container_port=config.web_container_port,
            health_check_path=config.health_check_path,
            public_hostname=config.public_hostname,
            allowed_source_cidrs=config.cloudflare_ip_ranges,
            subnet_id=network.app_subnet_id,
            vault_uri=vault.vault_uri,
            secret_app_settings=SECRET_APP_SETTINGS,
            workspace_id=monitoring.workspace_id,
        ),
    )
    postgres = Postgres(
        "postgres",
        placement,
        PostgresArgs(
            version=config.postgres_version,
            sku=sizing.postgres_sku,
            tier=sizing.postgres_tier,
            storage_gb=sizing.postgres_storage_gb,
            max_connections=sizing.postgres_max_connections,
            zone_redundant_ha=sizing.postgres_zone_redundant_ha,
            geo_redundant_backup=sizing.postgres_geo_redundant_backup,
            backup_retention_days=sizing.postgres_backup_retention_days,
        ),
        network=network,
        tenant_id=client.tenant_id,
        entra_admins=[web.data_identity],
        workspace_id=monitoring.workspace_id,
    )
    redis = ManagedRedis(
        "redis",
        placement,
        RedisArgs(sku=sizing.redis_sku, high_availability=sizing.redis_high_availability),
        network=network,
        users=[web.data_identity, *web.slot_identities],
    )

    # Entra authentication everywhere: the URLs carry the identity's name, never a password.
    database_url = pulumi.Output.format(
        "postgresql://{0}@{1}:5432/{2}?sslmode=require",
        web.data_identity.principal_name,
        postgres.fqdn,
        DATABASE_NAME,
    )
    redis_url = pulumi.Output.format(
        "rediss://{0}@{1}:{2}", web.data_identity.principal_id, redis.hostname, REDIS_PORT
    )
    secret_values: dict[str, pulumi.Input[str]] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": monitoring.insights_connection_string,
        **settings.secrets,
    }
    if sorted(secret_values) != sorted(SECRET_APP_SETTINGS):
        raise AssertionError(f"every Key Vault reference needs a secret: {sorted(secret_values)}")
    AppSecrets(
        "app-secrets",
        placement,
        vault=vault,
        values=secret_values,
        readers=web.slot_identities,
        deployer_object_id=client.object_id,
        subscription_id=client.subscription_id,
    )
    Alerts(
        "alerts",
        placement,
        thresholds=settings.alerts,
        action_group_id=monitoring.action_group_id,
        workspace_id=monitoring.workspace_id,
        web_app_id=web.app_id,
        postgres_server_id=postgres.server_id,
        postgres_max_connections=sizing.postgres_max_connections,
    )

    return {
        "resourceGroupName": group.name,
        "webAppName": web.app_name,
        "webProductionHostname": web.production_hostname,
        "webStagingHostname": web.staging_hostname,
        "postgresFqdn": postgres.fqdn,
        "redisHostname": redis.hostname,
        "keyVaultUri": vault.vault_uri,
        "egressIp": network.egress_ip,
    }
