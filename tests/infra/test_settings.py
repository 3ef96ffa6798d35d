"""Settings: one validated object per stack; bad values are named with the expected form."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.settings import (
    ORIGIN_CREDENTIAL_KEY,
    PROTECTED_KEYS,
    SECRET_CONFIG_KEYS,
    SIZING,
    SettingsError,
    load_settings,
    parse_stack_config,
)
from infra.stack_files import load_stack_config
from tests.conftest import PROJECT_DIR, STACKS


def committed_values(stack: str) -> dict[str, str | None]:
    """The plain (non-secret) values of a committed stack file, by key."""
    loaded = load_stack_config(PROJECT_DIR, stack)
    return {
        key.split(":", 1)[1]: value for key, value in loaded.values.items() if key not in loaded.secret_keys
    }


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_are_valid(stack: str) -> None:
    config = parse_stack_config(stack, committed_values(stack))
    assert config.cloudflare_ip_ranges
    assert config.web_container_port == 3000


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "postgresVersion",
            "15",
            r"platform:postgresVersion = \"15\".*expected a Postgres major version: 16, 17 or 18",
        ),
        (
            "cloudflareIpRanges",
            '["10.0.0.1/8"]',
            r"platform:cloudflareIpRanges\[0\] = \"10.0.0.1/8\".*has host bits set",
        ),
        ("cloudflareIpRanges", "[]", r"platform:cloudflareIpRanges = \[\].*non-empty JSON list"),
        (
            "webInitialImage",
            "ghcr.io/example/web:latest",
            r"platform:webInitialImage.*latest is not a version",
        ),
        ("webInitialImage", "ghcr.io/example/web", r"platform:webInitialImage.*pinned to a tag"),
        ("vnetAddressSpace", "8.8.0.0/16", r"platform:vnetAddressSpace.*private IPv4 range"),
        ("webContainerPort", "eighty", r"platform:webContainerPort = \"eighty\".*a TCP port from 1 to 65535"),
        ("alertEmails", '["oncall"]', r"platform:alertEmails\[0\] = \"oncall\""),
        ("publicHostname", "WWW.Example.COM", r"platform:publicHostname.*lower-case DNS name"),
        ("vpcCidr", "10.0.0.0/8", r"platform:vpcCidr.*private IPv4 range from /16 to /20"),
        ("kubernetesVersion", "1.34.2", r"platform:kubernetesVersion.*such as 1.34"),
        ("clusterAdminRoleArn", "admin", r"platform:clusterAdminRoleArn.*an IAM role ARN"),
        (
            "apiInitialImage",
            "ghcr.io/example/api:latest",
            r"platform:apiInitialImage.*latest is not a version",
        ),
        ("apiCertificateArn", "arn:aws:acm:eu-west-1:1:certificate/x", r"platform:apiCertificateArn.*ACM"),
        ("cloudflareZoneId", "example.com", r"platform:cloudflareZoneId.*32 lower-case hex digits"),
        ("sessionAffinity", "sticky", r"platform:sessionAffinity.*one of none, cookie, ip_cookie, header"),
    ],
)
def test_invalid_value_names_key_value_and_expected_form(key: str, value: str, message: str) -> None:
    values = {**committed_values("staging"), key: value}
    with pytest.raises(SettingsError, match=message):
        parse_stack_config("staging", values)


@pytest.mark.parametrize(
    ("key", "weak", "loaded"),
    [
        ("clusterPublicAccessCidrs", '["0.0.0.0/0"]', ["0.0.0.0/0"]),
        ("webMinTlsVersion", "1.0", "1.0"),
        ("keyVaultPurgeProtection", "false", False),
        ("nodeMetadataHopLimit", "2", 2),
    ],
)
def test_a_weak_protected_value_loads_so_the_policy_pack_can_name_the_rule(
    key: str, weak: str, loaded: object
) -> None:
    """Settings judge form, the policy pack judges security (tests/policies/test_stack_files.py)."""
    config = parse_stack_config("production", {**committed_values("production"), key: weak})
    assert config.model_dump(by_alias=True)[key] == loaded


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("webMinTlsVersion", "1.4", r"platform:webMinTlsVersion = \"1.4\".*1.0, 1.1, 1.2 or 1.3"),
        ("keyVaultSoftDeleteDays", "120", r"platform:keyVaultSoftDeleteDays = \"120\".*from 7 to 90"),
        ("redisAccessKeys", "off", r"platform:redisAccessKeys = \"off\".*Enabled or Disabled"),
        ("protectStatefulResources", "maybe", r"platform:protectStatefulResources.*true or false"),
    ],
)
def test_a_protected_value_the_cloud_would_refuse_is_bad_input(key: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_stack_config("staging", {**committed_values("staging"), key: value})


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_states_every_protected_setting(stack: str) -> None:
    import yaml

    stated = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert [key for key in PROTECTED_KEYS if f"platform:{key}" not in stated] == []


def test_missing_required_value_is_named() -> None:
    values = {**committed_values("production"), "publicHostname": None}
    with pytest.raises(SettingsError, match=r"platform:publicHostname = <missing>: Field required"):
        parse_stack_config("production", values)


def test_every_problem_is_reported_at_once() -> None:
    values = {**committed_values("staging"), "postgresVersion": "9", "webContainerPort": "0"}
    with pytest.raises(SettingsError) as raised:
        parse_stack_config("staging", values)
    assert "platform:postgresVersion" in str(raised.value)
    assert "platform:webContainerPort" in str(raised.value)


def test_a_secret_in_the_wrong_place_is_reported_without_its_value() -> None:
    values = {**committed_values("staging"), "stripeSecretKey": "sk_test_do_not_print"}
    with pytest.raises(SettingsError) as raised:
        parse_stack_config("staging", values)
    assert "platform:stripeSecretKey = [secret]" in str(raised.value)
    assert "sk_test_do_not_print" not in str(raised.value)


def test_unknown_stack_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"unknown stack 'prod': expected one of staging, production"):
        parse_stack_config("prod", committed_values("staging"))


def test_sizing_table_covers_exactly_the_stacks() -> None:
    assert sorted(SIZING) == sorted(STACKS)


def test_production_is_the_redundant_stack() -> None:
    production, staging = SIZING["production"], SIZING["staging"]
    assert production.postgres_zone_redundant_ha and production.postgres_geo_redundant_backup
    assert production.redis_high_availability and production.app_service_zone_redundant
    assert production.app_service_workers > staging.app_service_workers
    assert 7 <= staging.postgres_backup_retention_days <= production.postgres_backup_retention_days <= 35
    assert (production.availability_zones, staging.availability_zones) == (3, 2)
    assert production.nat_gateway_per_zone and not staging.nat_gateway_per_zone
    assert (production.api_min_replicas, production.api_max_replicas) == (5, 50)
    assert staging.api_max_replicas < production.api_max_replicas


class _NoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, object]]:
        raise AssertionError("settings must not create resources")

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, object], list[tuple[str, str]]]:
        raise AssertionError("settings must not call providers")


def test_missing_secrets_are_named_and_never_defaulted() -> None:
    plain = {f"platform:{k}": v for k, v in committed_values("staging").items() if v is not None}
    pulumi.runtime.set_all_config(plain, [])
    pulumi.runtime.set_mocks(_NoMocks(), project="platform", stack="staging")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    for key in (*SECRET_CONFIG_KEYS.values(), ORIGIN_CREDENTIAL_KEY):
        assert f"platform:{key}" in str(raised.value)
    assert "pulumi config set --secret" in str(raised.value)


def test_secrets_are_pulumi_secrets_in_settings() -> None:
    config = load_stack_config(PROJECT_DIR, "staging")
    pulumi.runtime.set_all_config(config.values, config.secret_keys)
    pulumi.runtime.set_mocks(_NoMocks(), project="platform", stack="staging")
    settings = load_settings()
    assert sorted(settings.secrets) == sorted(SECRET_CONFIG_KEYS)
    for value in settings.secrets.values():
        assert isinstance(value, pulumi.Output)
    assert json.dumps(settings.tags) == json.dumps(
        {"project": "platform", "stack": "staging", "managed-by": "pulumi"}
    )
