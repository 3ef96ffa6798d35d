"""App Service: both slots locked down alike, images owned by releases, secrets by reference."""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml

from contract import SECRET_APP_SETTINGS
from infra.offline import Plan, PlannedResource
from tests.conftest import PROJECT_DIR

APP = "azure-native:web:WebApp"
SLOT = "azure-native:web:WebAppSlot"


def slots(plan: Plan) -> list[PlannedResource]:
    return [plan.one(APP), plan.one(SLOT)]


def app_settings(resource: PlannedResource) -> dict[str, str]:
    return {item["name"]: item["value"] for item in resource.inputs["siteConfig"]["appSettings"]}


def test_there_is_one_app_with_a_staging_slot(plan: Plan) -> None:
    slot = plan.one(SLOT)
    assert slot.inputs["slot"] == "staging"
    assert slot.inputs["name"] == plan.one(APP).inputs["name"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("httpsOnly",), True),
        (("siteConfig", "minTlsVersion"), "1.2"),
        (("siteConfig", "scmMinTlsVersion"), "1.2"),
        (("siteConfig", "ftpsState"), "Disabled"),
        (("siteConfig", "remoteDebuggingEnabled"), False),
        (("siteConfig", "http20Enabled"), True),
        (("siteConfig", "alwaysOn"), True),
        (("siteConfig", "healthCheckPath"), "/health"),
        (("siteConfig", "vnetRouteAllEnabled"), True),
        (("siteConfig", "ipSecurityRestrictionsDefaultAction"), "Deny"),
        (("siteConfig", "scmIpSecurityRestrictionsDefaultAction"), "Deny"),
        (("keyVaultReferenceIdentity",), "SystemAssigned"),
    ],
)
def test_both_slots_have_the_security_setting(plan: Plan, path: tuple[str, ...], expected: object) -> None:
    for resource in slots(plan):
        value: object = resource.inputs
        for key in path:
            assert isinstance(value, dict), f"{resource.name}: {key} missing"
            value = value.get(key)
        assert value == expected, f"{resource.name}: {'.'.join(path)} = {value!r}"


def test_both_slots_have_a_system_assigned_identity_and_vnet_integration(plan: Plan) -> None:
    subnet = plan.one("azure-native:network:VirtualNetwork").name
    for resource in slots(plan):
        assert "SystemAssigned" in resource.inputs["identity"]["type"]
        assert resource.inputs["virtualNetworkSubnetId"].endswith("/subnets/app")
        assert subnet in resource.inputs["virtualNetworkSubnetId"]


def test_only_cloudflare_ranges_may_reach_either_slot(plan: Plan) -> None:
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    cloudflare = {str(ipaddress.ip_network(c)) for c in declared["platform:cloudflareIpRanges"]["default"]}
    for resource in slots(plan):
        rules = resource.inputs["siteConfig"]["ipSecurityRestrictions"]
        assert {rule["action"] for rule in rules} == {"Allow"}
        assert {rule["ipAddress"] for rule in rules} == cloudflare
        assert resource.inputs["siteConfig"]["scmIpSecurityRestrictionsUseMain"] is False


def test_a_cloudflare_range_admits_only_requests_carrying_the_origin_credential(plan: Plan) -> None:
    """Cloudflare's ranges are every Cloudflare customer's: each allow rule also requires the
    header this zone's transform rule adds (shown masked: it is a Pulumi secret)."""
    for resource in slots(plan):
        for rule in resource.inputs["siteConfig"]["ipSecurityRestrictions"]:
            assert rule["headers"] == {"X-Azure-FDID": ["[secret]"]}, rule["name"]


def test_both_slots_start_from_an_image_pinned_by_digest(plan: Plan) -> None:
    for resource in slots(plan):
        image = resource.inputs["siteConfig"]["linuxFxVersion"]
        assert image.startswith("DOCKER|ghcr.io/example/platform-web:1.0.0@sha256:")


def test_slots_are_configured_alike(plan: Plan) -> None:
    production, staging = (dict(resource.inputs) for resource in slots(plan))
    staging.pop("slot")
    # The slot is addressed by its app's name; the app by its own.
    assert staging.pop("name") == production.pop("name")
    assert staging == production


def test_releases_own_each_slots_image(plan: Plan) -> None:
    for resource in slots(plan):
        assert resource.ignore_changes == ["siteConfig.linuxFxVersion"]
        assert re.fullmatch(r"DOCKER\|\S+:\S+", resource.inputs["siteConfig"]["linuxFxVersion"])


def test_no_setting_is_slot_sticky(plan: Plan) -> None:
    sticky = plan.one("azure-native:web:WebAppSlotConfigurationNames")
    assert sticky.inputs["appSettingNames"] == []
    assert sticky.inputs["connectionStringNames"] == []


def test_every_secret_setting_is_a_key_vault_reference(plan: Plan) -> None:
    vault = plan.one("azure-native:keyvault:Vault").inputs["vaultName"]
    for resource in slots(plan):
        settings = app_settings(resource)
        for name in SECRET_APP_SETTINGS:
            secret = name.lower().replace("_", "-")
            assert settings[name] == f"@Microsoft.KeyVault(VaultName={vault};SecretName={secret})"


def test_each_reference_names_a_secret_the_stack_creates(plan: Plan) -> None:
    created = {r.inputs["secretName"] for r in plan.of_type("azure-native:keyvault:Secret")}
    referenced = {
        value.rsplit("SecretName=", 1)[1].rstrip(")")
        for value in app_settings(plan.one(APP)).values()
        if value.startswith("@Microsoft.KeyVault(")
    }
    assert referenced == created


def test_plain_settings_hold_no_secret_values(plan: Plan) -> None:
    plain = {
        name: value
        for name, value in app_settings(plan.one(APP)).items()
        if not value.startswith("@Microsoft.KeyVault(")
    }
    assert set(plain) == {
        "NODE_ENV",
        "NEXTAUTH_URL",
        "WEBSITES_PORT",
        "WEBSITES_ENABLE_APP_SERVICE_STORAGE",
        "AZURE_CLIENT_ID",
    }
    assert plain["NEXTAUTH_URL"].startswith("https://")


def test_basic_auth_publishing_is_off_for_both_slots(plan: Plan) -> None:
    for type_token in (
        "azure-native:web:WebAppFtpAllowed",
        "azure-native:web:WebAppScmAllowed",
        "azure-native:web:WebAppFtpAllowedSlot",
        "azure-native:web:WebAppScmAllowedSlot",
    ):
        assert plan.one(type_token).inputs["allow"] is False
