"""Azure Managed Redis: TLS, Entra-only access, private."""

from __future__ import annotations

from collections.abc import Callable

from infra.offline import Plan

CLUSTER = "azure-native:redisenterprise:RedisEnterprise"
DATABASE = "azure-native:redisenterprise:Database"


def test_cluster_requires_tls_1_2_and_has_no_public_access(plan: Plan) -> None:
    cluster = plan.one(CLUSTER).inputs
    assert cluster["minimumTlsVersion"] == "1.2"
    assert cluster["publicNetworkAccess"] == "Disabled"


def test_database_speaks_tls_only_and_refuses_access_keys(plan: Plan) -> None:
    database = plan.one(DATABASE).inputs
    assert database["clientProtocol"] == "Encrypted"
    assert database["accessKeysAuthentication"] == "Disabled"


def test_both_slots_and_the_data_identity_have_entra_access(plan: Plan) -> None:
    assignments = plan.of_type("azure-native:redisenterprise:AccessPolicyAssignment")
    assert sorted(a.name for a in assignments) == [
        "redis-access-data",
        "redis-access-production",
        "redis-access-staging",
    ]
    assert {a.inputs["accessPolicyName"] for a in assignments} == {"default"}


def test_clients_arrive_through_a_private_endpoint(plan: Plan) -> None:
    endpoint = plan.one("azure-native:network:PrivateEndpoint", "redis-private-link-endpoint")
    connection = endpoint.inputs["privateLinkServiceConnections"][0]
    assert connection["groupIds"] == ["redisEnterprise"]
    assert endpoint.inputs["subnet"]["id"].endswith("/subnets/private-endpoints")


def test_high_availability_in_production_only(plan_of: Callable[[str], Plan]) -> None:
    assert plan_of("production").one(CLUSTER).inputs["highAvailability"] == "Enabled"
    assert plan_of("staging").one(CLUSTER).inputs["highAvailability"] == "Disabled"
