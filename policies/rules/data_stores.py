"""Postgres Flexible Server, Azure Managed Redis and Key Vault: private, Entra-authenticated,
encrypted in transit, recoverable."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule
from policies.values import MISSING, expect, requires, shown, value_at

POSTGRES = "azure-native:dbforpostgresql:Server"
POSTGRES_FIREWALL_RULE = "azure-native:dbforpostgresql:FirewallRule"
POSTGRES_CONFIGURATION = "azure-native:dbforpostgresql:Configuration"
REDIS_CLUSTER = "azure-native:redisenterprise:RedisEnterprise"
REDIS_DATABASE = "azure-native:redisenterprise:Database"
KEY_VAULT = "azure-native:keyvault:Vault"


# -- Postgres ------------------------------------------------------------------------------------


def _firewall_closed(rule: Resource, _: Context) -> Iterator[str]:
    start, end = (value_at(rule.props, key) for key in ("startIpAddress", "endIpAddress"))
    if start is MISSING or end is MISSING:
        yield "startIpAddress and endIpAddress must both be set"
        return
    try:
        first, last = ipaddress.ip_address(str(start)), ipaddress.ip_address(str(end))
    except ValueError:
        yield f"{shown(start)}-{shown(end)} is not an address range; expected two IPv4 addresses"
        return
    if str(first) == "0.0.0.0":  # 0.0.0.0-0.0.0.0: "every Azure service"
        yield f"{first}-{last} admits every Azure service or the internet; expected specific sources"
    elif int(last) - int(first) >= 2**24:
        yield f"{first}-{last} admits more than a /8; expected specific sources"


def _secure_transport(configuration: Resource, _: Context) -> Iterator[str]:
    if value_at(configuration.props, "configurationName") == "require_secure_transport":
        yield from expect(configuration.props, "value", ["on", "ON"], '"on"')


# -- Azure Managed Redis -------------------------------------------------------------------------


# -- Key Vault -----------------------------------------------------------------------------------


PRODUCTION = ("production",)

RULES: tuple[Rule, ...] = (
    ResourceRule(
        "postgres-no-public-access",
        "Postgres Flexible Server is reachable from its virtual network only",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_68 (as for Single Server); MCSB NS-2"),
        (POSTGRES,),
        check=requires(("network.publicNetworkAccess", ["Disabled"], '"Disabled"')),
    ),
    ResourceRule(
        "postgres-no-open-firewall-rule",
        "No Postgres firewall rule admits the internet or every Azure service",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_11 (as for Azure SQL)"),
        (POSTGRES_FIREWALL_RULE,),
        check=_firewall_closed,
    ),
    ResourceRule(
        "postgres-geo-redundant-backup",
        "Production Postgres backups are geo-redundant",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_136"),
        (POSTGRES,),
        PRODUCTION,
        check=requires(("backup.geoRedundantBackup", ["Enabled"], '"Enabled"')),
    ),
    ResourceRule(
        "postgres-zone-redundant-ha",
        "Production Postgres has a zone-redundant standby",
        Level.MANDATORY,
        Reference("AVM", "db-for-postgre-sql/flexible-server default"),
        (POSTGRES,),
        PRODUCTION,
        check=requires(("highAvailability.mode", ["ZoneRedundant"], '"ZoneRedundant"')),
    ),
    ResourceRule(
        "postgres-entra-authentication",
        "Postgres authenticates with Microsoft Entra only (no password exists to leak)",
        Level.MANDATORY,
        Reference("MCSB", "IM-1"),
        (POSTGRES,),
        check=requires(
            ("authConfig.activeDirectoryAuth", ["Enabled"], '"Enabled"'),
            ("authConfig.passwordAuth", ["Disabled"], '"Disabled" (Entra only)'),
        ),
    ),
    ResourceRule(
        "postgres-secure-transport",
        "Postgres requires TLS from every client (require_secure_transport stays on)",
        Level.MANDATORY,
        Reference("CIS", "Azure 4.3.1"),
        (POSTGRES_CONFIGURATION,),
        check=_secure_transport,
    ),
    ResourceRule(
        "redis-tls-1-2",
        "Azure Managed Redis accepts TLS 1.2 or later only",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_148 (as for Azure Cache)"),
        (REDIS_CLUSTER,),
        check=requires(("minimumTlsVersion", ["1.2", "1.3"], '"1.2" or later')),
    ),
    ResourceRule(
        "redis-encrypted-protocol",
        "Azure Managed Redis databases speak the encrypted protocol only",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_91 (as for Azure Cache)"),
        (REDIS_DATABASE,),
        check=requires(("clientProtocol", ["Encrypted"], '"Encrypted" (TLS only)')),
    ),
    ResourceRule(
        "redis-access-keys-disabled",
        "Azure Managed Redis databases have access keys disabled (Microsoft Entra only)",
        Level.MANDATORY,
        Reference("MCSB", "IM-1"),
        (REDIS_DATABASE,),
        check=requires(("accessKeysAuthentication", ["Disabled"], '"Disabled" (Entra only)')),
    ),
    ResourceRule(
        "redis-no-public-access",
        "Azure Managed Redis is reachable through its private endpoint only",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_89 (as for Azure Cache)"),
        (REDIS_CLUSTER,),
        check=requires(("publicNetworkAccess", ["Disabled"], '"Disabled"')),
    ),
    ResourceRule(
        "key-vault-rbac",
        "Key Vault authorizes with Azure RBAC (no access policies)",
        Level.MANDATORY,
        Reference("CIS", "Azure 2.0 8.6; AVM key-vault default"),
        (KEY_VAULT,),
        check=requires(("properties.enableRbacAuthorization", [True], "true (no access policies)")),
    ),
    ResourceRule(
        "key-vault-purge-protection",
        "Key Vault has purge protection: a deleted vault and its secrets stay recoverable",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_110"),
        (KEY_VAULT,),
        check=requires(("properties.enablePurgeProtection", [True], "true")),
    ),
    ResourceRule(
        "key-vault-soft-delete-90-days",
        "Key Vault keeps deleted secrets for 90 days",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_42; AVM key-vault default"),
        (KEY_VAULT,),
        check=requires(
            ("properties.enableSoftDelete", [True], "true"),
            ("properties.softDeleteRetentionInDays", [90], "90 (days)"),
        ),
    ),
    ResourceRule(
        "key-vault-no-public-access",
        "Key Vault is reachable through its private endpoint only, and its firewall denies by default",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_189, CKV_AZURE_109"),
        (KEY_VAULT,),
        check=requires(
            ("properties.publicNetworkAccess", ["Disabled"], '"Disabled"'),
            ("properties.networkAcls.defaultAction", ["Deny"], '"Deny"'),
        ),
    ),
)
