"""Every cloud fake started together, linked, with the topology document that points at them and
the environment and configuration an operator's `invoke` would need to reach them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.releases.cloud_fakes import azure, cloudflare, kubernetes
from tests.releases.cloud_fakes.azure import FakeAzure
from tests.releases.cloud_fakes.cloudflare import FakeCloudflare
from tests.releases.cloud_fakes.kubernetes import FakeKubernetes
from tests.releases.cloud_fakes.prometheus import PROMETHEUS_INSTALLED, ApiMetrics, api_metrics_spec

ACCOUNT = "a" * 32
ZONE = "b" * 32
WEB_BALANCER, WEB_STABLE, WEB_CANARY = "c" * 32, "d" * 32, "e" * 32
API_BALANCER, API_STABLE, API_CANARY = "f" * 32, "1" * 32, "2" * 32
# Staging's release settings for tests against the fakes: seconds instead of minutes.
STAGING = {
    "lease_seconds": 10,
    "health": {"consecutive": 2, "interval_seconds": 0.1, "timeout_seconds": 10},
    # Evidence at the fakes' rates passes a step in a few seconds; none holds it after 6.
    "analysis": {
        "bake_seconds": 1,
        "interval_seconds": 0.3,
        "max_bake_seconds": 30,
        "max_idle_seconds": 6,
        "min_requests": 10,
    },
    "verify_seconds": 1,
}
SECRETS = (cloudflare.TOKEN, azure.CLIENT_SECRET, azure.ACCESS_TOKEN, kubernetes.TOKEN, azure.DATABASE_URL)


@dataclass
class CloudWorld:
    cloudflare: FakeCloudflare
    azure: FakeAzure
    kubernetes: FakeKubernetes
    # A real Prometheus scraping a stand-in of the API's exporter; None when a test asked for none.
    prometheus: ApiMetrics | None
    topology_file: Path
    kubeconfig: Path
    ca_file: Path

    def topology(self) -> dict[str, Any]:
        return json.loads(self.topology_file.read_text())

    def environment(self) -> dict[str, str]:
        """What an operator exports: credentials and each SDK's own endpoint settings."""
        return {
            "CLOUDFLARE_API_TOKEN": cloudflare.TOKEN,
            "CLOUDFLARE_BASE_URL": self.cloudflare.base_url,
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
            "AZURE_TENANT_ID": azure.TENANT,
            "AZURE_CLIENT_ID": azure.CLIENT_ID,
            "AZURE_CLIENT_SECRET": azure.CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": self.azure.url,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
            "SSL_CERT_FILE": str(self.ca_file),
        }

    def clouds_config(self) -> dict[str, Any]:
        return {
            "azure_resource_manager": self.azure.url,
            "azure_metrics_endpoint": self.azure.url,
            "log_analytics_endpoint": self.azure.url,
            # The fake's logs arrive half a second late; the adapter waits a second.
            "log_analytics_ingestion_delay_seconds": 1,
            "azure_metrics_ingestion_delay_seconds": 120,
            "azure_disable_instance_discovery": True,
            # The fake vault's host (127.0.0.1) is not under vault.azure.net, as a real one's is.
            "key_vault_verify_challenge_resource": False,
            "backup_polling_seconds": 0.2,
            "kubeconfig": str(self.kubeconfig),
            "retry_timeout_seconds": 15,
            "max_retry_after_seconds": 3,
        }


def _router(hostname: str, balancer: str, stable: str, canary: str) -> dict[str, Any]:
    return {
        "kind": "cloudflare",
        "account_id": ACCOUNT,
        "zone_id": ZONE,
        "load_balancer_id": balancer,
        "hostname": hostname,
        "pools": {"stable": stable, "canary": canary},
        "monitor_id": "monitor",
    }


def topology(world_azure: FakeAzure, prometheus: str) -> dict[str, Any]:
    site = world_azure.site_id
    return {
        "environment": "staging",
        "services": {
            "web": {
                "router": _router("www.example.com", WEB_BALANCER, WEB_STABLE, WEB_CANARY),
                "slots": {
                    "kind": "app_service",
                    "subscription_id": azure.SUBSCRIPTION,
                    "resource_group": azure.RESOURCE_GROUP,
                    "app": azure.APP,
                    "slot": azure.SLOT,
                    "production_url": world_azure.slot_url("production"),
                    "staging_url": world_azure.slot_url(azure.SLOT),
                },
                "metrics": {
                    "kind": "azure_monitor",
                    "region": "westeurope",
                    "production_resource_id": site,
                    "staging_resource_id": f"{site}/slots/{azure.SLOT}",
                    "log_analytics_workspace_id": azure.WORKSPACE,
                },
                "secrets": {"kind": "key_vault", "vault_url": world_azure.url},
                "database": {
                    "kind": "postgres_flexible",
                    "subscription_id": azure.SUBSCRIPTION,
                    "resource_group": azure.RESOURCE_GROUP,
                    "server": azure.SERVER,
                },
            },
            "api": {
                "router": _router("api.example.com", API_BALANCER, API_STABLE, API_CANARY),
                "slots": {
                    "kind": "kubernetes",
                    "cluster_name": kubernetes.CLUSTER,
                    "region": "eu-west-1",
                    "namespace": kubernetes.NAMESPACE,
                    "services": {"active": "api-active", "preview": "api-preview"},
                    "deployments": {"blue": "api-blue", "green": "api-green"},
                    "container": "api",
                    "colour_label": kubernetes.COLOUR_LABEL,
                },
                "metrics": api_metrics_spec(prometheus).model_dump(),
            },
        },
    }


@contextmanager
def cloud_world(directory: Path, with_prometheus: bool = True) -> Iterator[CloudWorld]:
    """Every fake started; `with_prometheus=False` leaves out the one real process (the API's
    Prometheus, whose topology URL then points at a closed port) for in-process adapter tests."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    router = FakeCloudflare(ACCOUNT, ZONE)
    router.add_balancer(WEB_BALANCER, "www.example.com", WEB_STABLE, WEB_CANARY)
    router.add_balancer(API_BALANCER, "api.example.com", API_STABLE, API_CANARY)
    cloud = FakeAzure(ca)
    cluster = FakeKubernetes(ca)
    prometheus = None
    if with_prometheus:
        if not PROMETHEUS_INSTALLED:
            pytest.skip("prometheus is not installed (`./dev test` installs it; CI always has it)")
        prometheus = ApiMetrics(
            directory / "prometheus", lambda colour: cluster.image(colour).rpartition(":")[2]
        )
    fakes = (router, cloud, cluster) + ((prometheus,) if prometheus is not None else ())
    for fake in fakes:
        fake.start()
    try:
        topology_file = directory / "staging-topology.json"
        prometheus_url = prometheus.url if prometheus is not None else "http://127.0.0.1:9"
        topology_file.write_text(json.dumps(topology(cloud, prometheus_url), indent=2))
        yield CloudWorld(
            router, cloud, cluster, prometheus, topology_file, cluster.kubeconfig(directory, ca), ca_file
        )
    finally:
        for fake in fakes:
            fake.stop()
