"""The platform's composition: which components exist and how they are wired together.

`build` declares every resource of one stack from a `Settings` object and returns the stack
outputs. It is called by `infra/__main__.py` under the Pulumi engine, and by the offline plan and
the tests under Pulumi's mocks.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, resources

from contract import SECRET_APP_SETTINGS
from infra.aws.cluster import Cluster, ClusterArgs, ClusterRole, cluster_role_arn
from infra.aws.kms import SecretsKey
from infra.aws.network import Network as AwsNetwork
from infra.aws.network import NetworkArgs as AwsNetworkArgs
from infra.aws.node_group import NodeGroup, NodeGroupArgs
from infra.azure.alerts import Alerts
from infra.azure.app_secrets import AppSecrets
from infra.azure.key_vault import KeyVault, KeyVaultArgs
from infra.azure.monitoring import Monitoring
from infra.azure.network import Network
from infra.azure.placement import Placement
from infra.azure.postgres import DATABASE_NAME, Postgres, PostgresArgs
from infra.azure.redis import REDIS_PORT, ManagedRedis, RedisArgs
from infra.azure.web_app import WebApp, WebAppArgs
from infra.cloudflare.load_balancer import LoadBalancerArgs, Origin, WeightedLoadBalancer
from infra.cloudflare.origin_credential import OriginCredentialRule
from infra.kubernetes.api_workloads import ApiWorkloads, ApiWorkloadsArgs
from infra.kubernetes.provider import cluster_provider
from infra.settings import Settings
from infra.topology import ApiTargets, WebTargets, release_targets


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
        KeyVaultArgs(
            purge_protection=config.key_vault_purge_protection,
            soft_delete_days=config.key_vault_soft_delete_days,
            public_network_access=config.key_vault_public_network_access,
            protect=config.protect_stateful_resources,
        ),
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
            vault_name=vault.vault_name,
            secret_app_settings=SECRET_APP_SETTINGS,
            workspace_id=monitoring.workspace_id,
            min_tls_version=config.web_min_tls_version,
            ftps_state=config.web_ftps_state,
            remote_debugging=config.web_remote_debugging,
            origin_credential=settings.origin_credential,
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
            password_auth=config.postgres_password_auth,
            protect=config.protect_stateful_resources,
        ),
        network=network,
        tenant_id=client.tenant_id,
        entra_admins=[web.data_identity],
        workspace_id=monitoring.workspace_id,
    )
    redis = ManagedRedis(
        "redis",
        placement,
        RedisArgs(
            sku=sizing.redis_sku,
            high_availability=sizing.redis_high_availability,
            access_keys=config.redis_access_keys,
            public_network_access=config.redis_public_network_access,
        ),
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

    api_cluster, api = _api_on_eks(settings)

    def traffic(service: str, hostname: str, stable: Origin, canary: Origin) -> WeightedLoadBalancer:
        return WeightedLoadBalancer(
            f"{service}-traffic",
            LoadBalancerArgs(
                account_id=config.cloudflare_account_id,
                zone_id=config.cloudflare_zone_id,
                hostname=hostname,
                health_path=config.health_check_path,
                stable=stable,
                canary=canary,
                session_affinity=config.session_affinity,
                origin_credential=settings.origin_credential,
            ),
        )

    # Cloudflare's IP ranges are every Cloudflare customer's: the origins also require a credential
    # that only this zone's rule adds (docs/security.md).
    OriginCredentialRule(
        "origin-credential",
        zone_id=config.cloudflare_zone_id,
        hostnames=[config.public_hostname, config.api_hostname],
        credential=settings.origin_credential,
    )
    # An App Service slot answers to its own hostname only.
    web_router = traffic(
        "web",
        config.public_hostname,
        stable=Origin(address=web.production_hostname, host=web.production_hostname),
        canary=Origin(address=web.staging_hostname, host=web.staging_hostname),
    )
    # The NLBs' certificate is for the API's public hostname.
    api_hostnames = {role: _load_balancer_hostname(service) for role, service in api.services.items()}
    api_router = traffic(
        "api",
        config.api_hostname,
        stable=Origin(address=api_hostnames["active"], host=config.api_hostname),
        canary=Origin(address=api_hostnames["preview"], host=config.api_hostname),
    )
    targets = release_targets(
        settings.stack,
        WebTargets(
            app=web,
            router=web_router,
            subscription_id=client.subscription_id,
            resource_group=group.name,
            region=config.location,
            vault_url=vault.vault_uri,
            postgres_server=postgres.server_name,
            log_analytics_workspace_id=monitoring.workspace_customer_id,
        ),
        ApiTargets(
            router=api_router,
            cluster_name=api_cluster.cluster_name,
            region=config.aws_region,
            services={role: service.metadata.name for role, service in api.services.items()},
            prometheus_url=config.api_prometheus_url,
        ),
        account_id=config.cloudflare_account_id,
        zone_id=config.cloudflare_zone_id,
        health_path=config.health_check_path,
    )

    return {
        "release_targets": targets,
        "clusterName": api_cluster.cluster_name,
        "resourceGroupName": group.name,
        "webAppName": web.app_name,
        "webProductionHostname": web.production_hostname,
        "webStagingHostname": web.staging_hostname,
        "postgresFqdn": postgres.fqdn,
        "redisHostname": redis.hostname,
        "keyVaultUri": vault.vault_uri,
        "egressIp": network.egress_ip,
    }


def _api_on_eks(settings: Settings) -> tuple[Cluster, ApiWorkloads]:
    """The API's home: network, secrets key, cluster, nodes, and its blue/green workloads."""
    sizing = settings.sizing
    config = settings.config
    name = settings.resource_prefix
    provider = aws.Provider(
        "aws", region=config.aws_region, default_tags=aws.ProviderDefaultTagsArgs(tags=settings.tags)
    )
    on_aws = pulumi.ResourceOptions(providers=[provider])
    network = AwsNetwork(
        "api-network",
        AwsNetworkArgs(
            name=name,
            region=config.aws_region,
            cidr=config.vpc_cidr,
            availability_zones=sizing.availability_zones,
            nat_gateway_per_zone=sizing.nat_gateway_per_zone,
            flow_log_retention_days=config.aws_log_retention_days,
        ),
        on_aws,
    )
    cluster_role = ClusterRole("api-cluster", name, on_aws)
    account_id = config.cluster_admin_role_arn.split(":")[4]
    key = SecretsKey(
        "api-secrets-key",
        name,
        rotation=config.kms_key_rotation,
        protect=config.protect_stateful_resources,
        # Its administrators manage it; the control plane's role uses it; nobody else.
        administrators=[config.cluster_admin_role_arn],
        users=[cluster_role_arn(name, account_id)],
        opts=pulumi.ResourceOptions(providers=[provider], depends_on=[cluster_role]),
    )
    cluster = Cluster(
        "api-cluster",
        ClusterArgs(
            name=name,
            kubernetes_version=config.kubernetes_version,
            subnet_ids=network.private_subnet_ids,
            public_access_cidrs=config.cluster_public_access_cidrs,
            admin_role_arn=config.cluster_admin_role_arn,
            secrets_key_arn=key.key_arn,
            role=cluster_role,
            log_retention_days=config.aws_log_retention_days,
            protect=config.protect_stateful_resources,
        ),
        on_aws,
    )
    NodeGroup(
        "api-nodes",
        NodeGroupArgs(
            cluster_name=cluster.cluster_name,
            kubernetes_version=config.kubernetes_version,
            subnet_ids=network.private_subnet_ids,
            instance_types=sizing.node_instance_types,
            min_size=sizing.node_min,
            desired_size=sizing.node_desired,
            max_size=sizing.node_max,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            metadata_hop_limit=config.node_metadata_hop_limit,
        ),
        on_aws,
    )
    kubernetes = cluster_provider(
        "api-kubernetes",
        cluster.cluster_name,
        cluster.endpoint,
        cluster.certificate_authority,
        config.aws_region,
    )
    workloads = ApiWorkloads(
        "api",
        ApiWorkloadsArgs(
            initial_image=config.api_initial_image,
            container_port=config.api_container_port,
            min_replicas=sizing.api_min_replicas,
            max_replicas=sizing.api_max_replicas,
            certificate_arn=config.api_certificate_arn,
            allowed_source_cidrs=config.cloudflare_ip_ranges,
            vpc_cidr=config.vpc_cidr,
            origin_credential=settings.origin_credential,
        ),
        pulumi.ResourceOptions(providers=[kubernetes]),
    )
    return cluster, workloads


def _load_balancer_hostname(service: k8s.core.v1.Service) -> pulumi.Output[str]:
    """The NLB's DNS name, which Kubernetes writes into the Service's status once it exists."""

    def hostname(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
        balancer = status.load_balancer if status else None
        ingress = (balancer.ingress if balancer else None) or []
        names = [entry.hostname for entry in ingress if entry.hostname]
        if not names:
            raise ValueError(f"Service {service._name} has no load balancer hostname yet")
        return names[0]

    return service.status.apply(hostname)
