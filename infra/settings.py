"""The stack's settings: read once from Pulumi configuration, validated, typed.

This is the only module of the Pulumi program that reads configuration. Everything else receives a
`Settings` object. Keys, defaults and descriptions are documented in `Pulumi.yaml`; the stack files
hold values only.

What varies between stacks is split in two on purpose:

* per-stack *values* that are not about size (region, hostnames, receivers) come from the stack
  file;
* per-stack *sizing and redundancy* live in the `SIZING` table below, so that a reviewer sees every
  difference between staging and production in one place.

*Protected settings* (TLS versions, public network access, purge protection, deletion protection,
...) are stated in every stack file, where a reviewer of the file sees each stack's security
posture. This module checks only that a value is one the cloud accepts; whether it is secure enough
is judged in one place, the policy pack (`policies/`), which fails `pulumi preview` and
`invoke policy` naming the rule and the resource. `invoke parity` also flags any protected setting
that differs between the stacks.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

PROJECT = "platform"

# The stacks this project has; SIZING holds one row for each.
STACK_NAMES = ("staging", "production")

# Names of the Pulumi secret configuration keys that become Key Vault secrets, by the app setting
# (environment variable) they feed. The other secret app settings (DATABASE_URL, REDIS_URL,
# APPLICATIONINSIGHTS_CONNECTION_STRING) are built from the resources themselves.
SECRET_CONFIG_KEYS: dict[str, str] = {
    "NEXTAUTH_SECRET": "nextauthSecret",
    "STRIPE_SECRET_KEY": "stripeSecretKey",
    "STRIPE_WEBHOOK_SECRET": "stripeWebhookSecret",
}


# The origin credential (docs/security.md): Cloudflare adds it to every request for the zone and the
# origins require it. A GUID (App Service matches it in X-Azure-FDID), never a Key Vault secret.
ORIGIN_CREDENTIAL_KEY = "originCredential"


class SettingsError(Exception):
    """The stack configuration is missing a value or holds an invalid one."""


def _network(value: str) -> str:
    """Accept an IPv4 or IPv6 CIDR and return it normalised (strict: no host bits set)."""
    return str(ipaddress.ip_network(value, strict=True))


def _vnet_space(value: str) -> str:
    network = ipaddress.ip_network(value, strict=True)
    if network.version != 4 or not network.is_private or network.prefixlen > 22:
        raise ValueError("must be a private IPv4 range of /22 or larger")
    return str(network)


def _vpc_cidr(value: str) -> str:
    network = ipaddress.ip_network(value, strict=True)
    if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 20:
        raise ValueError("must be a private IPv4 range from /16 to /20")
    return str(network)


Cidr = Annotated[str, AfterValidator(_network)]
CloudflareId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Hostname = Annotated[
    str,
    StringConstraints(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"),
]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
OnOff = Literal["Enabled", "Disabled"]


def _pinned_image(value: str) -> str:
    """An image pinned to a tag or digest: `latest` (or no tag) cannot be rolled back to."""
    if value.split("@", 1)[0].endswith(":latest"):
        raise ValueError("the tag latest is not a version")
    return value


ImageRef = Annotated[
    str,
    # A tag (for people), a digest (what runs), or both: repo:1.2.3@sha256:<64 hex>.
    StringConstraints(
        pattern=r"^[a-z0-9./_-]+(:[A-Za-z0-9_.-]{1,128}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
    ),
    AfterValidator(_pinned_image),
]


# The retention periods CloudWatch Logs accepts, in days (0: never expire).
CLOUDWATCH_RETENTION_DAYS = (
    0,
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _cloudwatch_retention(value: int) -> int:
    if value not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError("not a retention period CloudWatch Logs accepts")
    return value


class StackConfig(BaseModel):
    """Values the stack file may set. Field aliases are the configuration keys (without the
    `platform:` namespace); descriptions state the expected form and appear in error messages."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    location: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{2,30}$")] = Field(
        alias="location", description="an Azure region name in lower case, such as westeurope"
    )
    name_prefix: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,9}$")] = Field(
        alias="namePrefix",
        description="2 to 10 lower-case letters or digits, starting with a letter",
    )
    vnet_address_space: Annotated[str, AfterValidator(_vnet_space)] = Field(
        alias="vnetAddressSpace", description="a private IPv4 CIDR of /22 or larger, such as 10.20.0.0/16"
    )
    public_hostname: Hostname = Field(
        alias="publicHostname", description="a lower-case DNS name, such as www.example.com"
    )
    web_initial_image: ImageRef = Field(
        alias="webInitialImage",
        description="a container image pinned to a tag other than latest or to a sha256 digest",
    )
    web_container_port: int = Field(
        alias="webContainerPort", ge=1, le=65535, description="a TCP port from 1 to 65535"
    )
    health_check_path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        alias="healthCheckPath", description="an absolute URL path, such as /health"
    )
    postgres_version: Literal["16", "17", "18"] = Field(
        alias="postgresVersion", description="a Postgres major version: 16, 17 or 18"
    )
    cloudflare_ip_ranges: Annotated[list[Cidr], Field(min_length=1)] = Field(
        alias="cloudflareIpRanges",
        description="a non-empty JSON list of IPv4/IPv6 CIDRs (Cloudflare's published ranges)",
    )
    alert_emails: Annotated[list[Email], Field(min_length=1)] = Field(
        alias="alertEmails", description="a non-empty JSON list of e-mail addresses"
    )
    aws_region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")] = Field(
        alias="awsRegion", description="an AWS region name, such as eu-west-1"
    )
    vpc_cidr: Annotated[str, AfterValidator(_vpc_cidr)] = Field(
        alias="vpcCidr", description="a private IPv4 CIDR from /16 to /20, such as 10.40.0.0/16"
    )
    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}$")] = Field(
        alias="kubernetesVersion", description="a Kubernetes minor version in standard support, such as 1.34"
    )
    # Protected: the policy pack refuses a CIDR that admits the whole internet.
    cluster_public_access_cidrs: Annotated[list[Cidr], Field(min_length=1)] = Field(
        alias="clusterPublicAccessCidrs",
        description="a non-empty JSON list of CIDRs allowed to reach the cluster's public endpoint",
    )
    cluster_admin_role_arn: Annotated[
        str, StringConstraints(pattern=r"^arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
    ] = Field(
        alias="clusterAdminRoleArn",
        description="an IAM role ARN, such as arn:aws:iam::123456789012:role/platform-admin",
    )
    api_initial_image: ImageRef = Field(
        alias="apiInitialImage",
        description="a container image pinned to a tag other than latest or to a sha256 digest",
    )
    api_container_port: int = Field(
        alias="apiContainerPort", ge=1, le=65535, description="a TCP port from 1 to 65535"
    )
    api_hostname: Hostname = Field(
        alias="apiHostname", description="a lower-case DNS name, such as api.example.com"
    )
    api_certificate_arn: Annotated[
        str, StringConstraints(pattern=r"^arn:aws:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$")
    ] = Field(
        alias="apiCertificateArn",
        description="an ACM certificate ARN, such as arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>",
    )
    api_prometheus_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")] = Field(
        alias="apiPrometheusUrl",
        description="the http(s) URL of the Prometheus HTTP API that scrapes the cluster",
    )
    cloudflare_account_id: CloudflareId = Field(
        alias="cloudflareAccountId", description="a Cloudflare account id: 32 lower-case hex digits"
    )
    cloudflare_zone_id: CloudflareId = Field(
        alias="cloudflareZoneId", description="a Cloudflare zone id: 32 lower-case hex digits"
    )
    session_affinity: Literal["none", "cookie", "ip_cookie", "header"] = Field(
        alias="sessionAffinity", description="one of none, cookie, ip_cookie, header"
    )
    # Protected settings: the security posture each stack file states explicitly. The forms are
    # what the clouds accept, weak values included: the policy pack, not this model, decides what
    # is secure enough, so that a weakened value fails `invoke policy` naming the rule and the
    # resource it breaks (see PROTECTED_KEYS).
    web_min_tls_version: Literal["1.0", "1.1", "1.2", "1.3"] = Field(
        alias="webMinTlsVersion", description="the lowest TLS version both slots accept: 1.0, 1.1, 1.2 or 1.3"
    )
    web_ftps_state: Literal["AllAllowed", "FtpsOnly", "Disabled"] = Field(
        alias="webFtpsState", description="one of AllAllowed, FtpsOnly, Disabled"
    )
    web_remote_debugging: bool = Field(alias="webRemoteDebugging", description="true or false")
    key_vault_purge_protection: bool = Field(alias="keyVaultPurgeProtection", description="true or false")
    key_vault_soft_delete_days: int = Field(
        alias="keyVaultSoftDeleteDays", ge=7, le=90, description="a number of days from 7 to 90"
    )
    key_vault_public_network_access: OnOff = Field(
        alias="keyVaultPublicNetworkAccess", description="Enabled or Disabled"
    )
    postgres_password_auth: OnOff = Field(alias="postgresPasswordAuth", description="Enabled or Disabled")
    redis_access_keys: OnOff = Field(alias="redisAccessKeys", description="Enabled or Disabled")
    redis_public_network_access: OnOff = Field(
        alias="redisPublicNetworkAccess", description="Enabled or Disabled"
    )
    kms_key_rotation: bool = Field(alias="kmsKeyRotation", description="true or false")
    node_metadata_hop_limit: int = Field(
        alias="nodeMetadataHopLimit", ge=1, le=64, description="a hop count from 1 to 64"
    )
    protect_stateful_resources: bool = Field(alias="protectStatefulResources", description="true or false")
    # Protected: the policy pack wants at least 365 days in production (CKV_AWS_338).
    aws_log_retention_days: Annotated[int, AfterValidator(_cloudwatch_retention)] = Field(
        alias="awsLogRetentionDays",
        description="days CloudWatch keeps the EKS control-plane logs and VPC flow logs: one of "
        + ", ".join(str(days) for days in CLOUDWATCH_RETENTION_DAYS)
        + " (0: never expire)",
    )


# The stack-file keys that carry the security posture, each guarded by a mandatory rule of the
# policy pack. Every stack file states each of them; none may differ between the stacks.
PROTECTED_KEYS = (
    "webMinTlsVersion",
    "webFtpsState",
    "webRemoteDebugging",
    "keyVaultPurgeProtection",
    "keyVaultSoftDeleteDays",
    "keyVaultPublicNetworkAccess",
    "postgresPasswordAuth",
    "redisAccessKeys",
    "redisPublicNetworkAccess",
    "kmsKeyRotation",
    "nodeMetadataHopLimit",
    "protectStatefulResources",
    "clusterPublicAccessCidrs",
    "awsLogRetentionDays",
)


@dataclass(frozen=True)
class Sizing:
    """Everything that may differ between stacks apart from names: capacity and redundancy."""

    app_service_sku: str
    app_service_workers: int
    app_service_zone_redundant: bool
    postgres_sku: str
    postgres_tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"]
    postgres_storage_gb: int
    postgres_max_connections: int
    postgres_zone_redundant_ha: bool
    postgres_geo_redundant_backup: bool
    postgres_backup_retention_days: int
    redis_sku: str
    redis_high_availability: bool
    log_retention_days: int
    availability_zones: int
    nat_gateway_per_zone: bool
    node_instance_types: tuple[str, ...]
    node_min: int
    node_desired: int
    node_max: int
    api_min_replicas: int
    api_max_replicas: int


# The one table of per-stack differences. tests/infra/test_program.py treats any other difference
# between the stacks' desired state as a defect (as `invoke parity` does).
SIZING: dict[str, Sizing] = {
    "staging": Sizing(
        app_service_sku="P0v3",
        app_service_workers=1,
        app_service_zone_redundant=False,
        postgres_sku="Standard_B2s",
        postgres_tier="Burstable",
        postgres_storage_gb=32,
        postgres_max_connections=200,
        postgres_zone_redundant_ha=False,
        postgres_geo_redundant_backup=False,
        postgres_backup_retention_days=7,
        redis_sku="Balanced_B0",
        redis_high_availability=False,
        log_retention_days=30,
        availability_zones=2,
        nat_gateway_per_zone=False,
        node_instance_types=("m6i.large",),
        node_min=2,
        node_desired=2,
        node_max=4,
        api_min_replicas=2,
        api_max_replicas=6,
    ),
    "production": Sizing(
        app_service_sku="P1v3",
        app_service_workers=3,
        app_service_zone_redundant=True,
        postgres_sku="Standard_D4ds_v5",
        postgres_tier="GeneralPurpose",
        postgres_storage_gb=256,
        postgres_max_connections=1000,
        postgres_zone_redundant_ha=True,
        postgres_geo_redundant_backup=True,
        postgres_backup_retention_days=35,
        redis_sku="Balanced_B3",
        redis_high_availability=True,
        log_retention_days=90,
        availability_zones=3,
        nat_gateway_per_zone=True,
        node_instance_types=("m6i.xlarge",),
        node_min=3,
        node_desired=6,
        node_max=24,
        api_min_replicas=5,
        api_max_replicas=50,
    ),
}


@dataclass(frozen=True)
class AlertThresholds:
    """The runbooks' "investigate" thresholds. The same on every stack: staging alerts on what
    production would."""

    http_5xx_percent: float = 1.0
    http_5xx_window_minutes: int = 5
    p95_response_ms: int = 500
    postgres_connections_fraction: float = 0.8


@dataclass(frozen=True)
class Settings:
    stack: str
    config: StackConfig
    sizing: Sizing
    # Pulumi secret outputs by the app setting they feed (see SECRET_CONFIG_KEYS); never plain str.
    secrets: Mapping[str, pulumi.Output[str]]
    # The origin credential, a Pulumi secret (ORIGIN_CREDENTIAL_KEY).
    origin_credential: pulumi.Output[str]
    alerts: AlertThresholds = AlertThresholds()

    @property
    def tags(self) -> dict[str, str]:
        return {"project": PROJECT, "stack": self.stack, "managed-by": "pulumi"}

    @property
    def resource_prefix(self) -> str:
        """`<namePrefix>-<stack>`: the stem of every Azure resource name."""
        return f"{self.config.name_prefix}-{self.stack}"


def config_keys() -> dict[str, bool]:
    """Every configuration key the program reads, mapped to whether it is a secret."""
    keys = {field.alias or name: False for name, field in StackConfig.model_fields.items()}
    keys.update(dict.fromkeys(SECRET_CONFIG_KEYS.values(), True))
    keys[ORIGIN_CREDENTIAL_KEY] = True
    return keys


def _parse_raw(raw: str) -> Any:
    """Pulumi hands structured values (lists, objects) to programs as JSON text; scalars stay
    strings (pydantic converts "3000" to 3000 where an integer is expected, and "16" stays "16")."""
    if not raw.lstrip().startswith(("[", "{")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _describe(error: Mapping[str, Any], key: str) -> str:
    field = next((f for n, f in StackConfig.model_fields.items() if (f.alias or n) == key), None)
    expected = f"; expected {field.description}" if field and field.description else ""
    where = "".join(f"[{part}]" for part in error["loc"][1:])
    value = error.get("input")
    if error["type"] == "missing":
        shown = "<missing>"
    elif key in SECRET_CONFIG_KEYS.values() or key == ORIGIN_CREDENTIAL_KEY:
        shown = "[secret]"  # an error message is printed and logged: never a secret's value
    else:
        shown = json.dumps(value)
    return f"{PROJECT}:{key}{where} = {shown}: {error['msg']}{expected}"


def parse_stack_config(stack: str, values: Mapping[str, str | None]) -> StackConfig:
    """Validate raw configuration values (strings, as Pulumi passes them) for `stack`.

    Raises SettingsError naming every bad key, the value received and the expected form.
    """
    if stack not in STACK_NAMES:
        raise SettingsError(f"unknown stack {stack!r}: expected one of {', '.join(STACK_NAMES)}")
    present = {key: _parse_raw(value) for key, value in values.items() if value is not None}
    try:
        return StackConfig.model_validate(present)
    except ValidationError as exc:
        problems = [_describe(err, str(err["loc"][0])) for err in exc.errors()]
        raise SettingsError(
            f"invalid configuration for stack {stack!r}:\n  " + "\n  ".join(problems)
        ) from None


def load_settings() -> Settings:
    """Read the running stack's configuration. Call once, from the program's entry point."""
    stack = pulumi.get_stack()
    config = pulumi.Config(PROJECT)
    plain_keys = [key for key, secret in config_keys().items() if not secret]
    stack_config = parse_stack_config(stack, {key: config.get(key) for key in plain_keys})

    secrets: dict[str, pulumi.Output[str]] = {}
    missing: list[str] = []
    for app_setting, key in SECRET_CONFIG_KEYS.items():
        value = config.get_secret(key)
        if value is None:
            missing.append(key)
        else:
            secrets[app_setting] = value
    origin_credential = config.get_secret(ORIGIN_CREDENTIAL_KEY)
    if origin_credential is None:
        missing.append(ORIGIN_CREDENTIAL_KEY)
    if missing or origin_credential is None:
        raise SettingsError(
            f"missing secret configuration for stack {stack!r}: "
            + ", ".join(f"{PROJECT}:{key}" for key in missing)
            + f"; set each with `pulumi config set --secret {PROJECT}:<key> --stack {stack}`"
        )
    return Settings(
        stack=stack,
        config=stack_config,
        sizing=SIZING[stack],
        secrets=secrets,
        origin_credential=origin_credential,
    )
