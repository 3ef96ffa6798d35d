"""Postgres Flexible Server: private, Entra-only, redundant where it matters, protected."""

from __future__ import annotations

from collections.abc import Callable

from infra.offline import Plan
from infra.settings import SIZING

SERVER = "azure-native:dbforpostgresql:Server"


def test_version_is_16_or_newer(plan: Plan) -> None:
    assert int(plan.one(SERVER).inputs["version"]) >= 16


def test_reachable_only_through_the_delegated_subnet_and_private_dns(plan: Plan) -> None:
    network = plan.one(SERVER).inputs["network"]
    assert network["publicNetworkAccess"] == "Disabled"
    assert network["delegatedSubnetResourceId"].endswith("/subnets/postgres")
    zone = plan.one("azure-native:privatedns:PrivateZone", "postgres-zone")
    assert zone.name in network["privateDnsZoneArmResourceId"]
    assert zone.inputs["privateZoneName"].endswith(".private.postgres.database.azure.com")
    assert plan.of_type("azure-native:dbforpostgresql:FirewallRule") == []


def test_only_microsoft_entra_authentication(plan: Plan) -> None:
    auth = plan.one(SERVER).inputs["authConfig"]
    assert auth == {**auth, "activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled"}
    assert "administratorLoginPassword" not in plan.one(SERVER).inputs


def test_the_apps_data_identity_is_an_entra_administrator(plan: Plan) -> None:
    admins = plan.of_type("azure-native:dbforpostgresql:AdministratorsMicrosoftEntra")
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity")
    assert [admin.inputs["principalName"] for admin in admins] == [identity.inputs["resourceName"]]
    assert admins[0].inputs["principalType"] == "ServicePrincipal"


def test_production_is_zone_redundant_and_geo_backed_up(plan_of: Callable[[str], Plan]) -> None:
    server = plan_of("production").one(SERVER).inputs
    assert server["highAvailability"]["mode"] == "ZoneRedundant"
    assert server["backup"]["geoRedundantBackup"] == "Enabled"


def test_backup_retention_follows_the_sizing_table(plan: Plan) -> None:
    server = plan.one(SERVER)
    stack = "production" if "production" in server.inputs["serverName"] else "staging"
    assert server.inputs["backup"]["backupRetentionDays"] == SIZING[stack].postgres_backup_retention_days


def test_server_is_protected_from_deletion(plan: Plan) -> None:
    assert plan.one(SERVER).protect is True


def test_database_app_exists(plan: Plan) -> None:
    database = plan.one("azure-native:dbforpostgresql:Database")
    assert database.inputs["databaseName"] == "app"


def test_tls_is_required_and_max_connections_pinned(plan: Plan) -> None:
    parameters = {
        r.inputs["configurationName"]: r.inputs["value"]
        for r in plan.of_type("azure-native:dbforpostgresql:Configuration")
    }
    assert parameters["require_secure_transport"] == "on"
    assert int(parameters["max_connections"]) > 0
