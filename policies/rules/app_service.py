"""App Service: the web app and every deployment slot meet the same bar (a swap moves the code, so
a weaker slot is a weaker production one swap later)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule
from policies.values import MISSING, expect, items, pinned_image, requires, shown, value_at

WEB_APP = "azure-native:web:WebApp"
WEB_APP_SLOT = "azure-native:web:WebAppSlot"
SITES = (WEB_APP, WEB_APP_SLOT)
BASIC_AUTH_POLICIES = (
    "azure-native:web:WebAppFtpAllowed",
    "azure-native:web:WebAppScmAllowed",
    "azure-native:web:WebAppFtpAllowedSlot",
    "azure-native:web:WebAppScmAllowedSlot",
)

# App setting names that hold credentials (the list): their values must live in Key Vault.
SECRET_LIKE = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CONNECTION", re.IGNORECASE)
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("


def _min_tls(site: Resource, _: Context) -> Iterator[str]:
    for path in ("siteConfig.minTlsVersion", "siteConfig.scmMinTlsVersion"):
        yield from expect(site.props, path, ["1.2", "1.3"], '"1.2" or "1.3"')


def _managed_identity(site: Resource, _: Context) -> Iterator[str]:
    identity = value_at(site.props, "identity.type")
    if identity is MISSING:
        yield "identity.type is not set; expected a managed identity (SystemAssigned and/or UserAssigned)"
    elif not isinstance(identity, str) or "Assigned" not in identity:
        yield f"identity.type is {shown(identity)}; expected SystemAssigned and/or UserAssigned"


def _health_check(site: Resource, _: Context) -> Iterator[str]:
    path = value_at(site.props, "siteConfig.healthCheckPath")
    if path is MISSING:
        yield "siteConfig.healthCheckPath is not set; expected an absolute path such as /health"
    elif not isinstance(path, str) or not path.startswith("/"):
        yield f"siteConfig.healthCheckPath is {shown(path)}; expected an absolute path such as /health"


def _admits_everyone(restriction: object) -> bool:
    if not isinstance(restriction, Mapping) or value_at(restriction, "action") != "Allow":
        return False
    address = value_at(restriction, "ipAddress")
    if address in ("Any", "*"):
        return True
    try:
        return ipaddress.ip_network(str(address), strict=False).prefixlen == 0
    except ValueError:
        return False


def _access_restricted(site: Resource, _: Context) -> Iterator[str]:
    for site_config in ("siteConfig.ipSecurityRestrictions", "siteConfig.scmIpSecurityRestrictions"):
        default = site_config + "DefaultAction"
        yield from expect(site.props, default, ["Deny"], '"Deny" (only listed sources reach the site)')
        for index, restriction in enumerate(items(site.props, site_config)):
            if _admits_everyone(restriction):
                yield f"{site_config}[{index}] allows every address; expected specific sources"
    if value_at(site.props, "siteConfig.ipSecurityRestrictionsDefaultAction") == "Deny" and not items(
        site.props, "siteConfig.ipSecurityRestrictions"
    ):
        yield "siteConfig.ipSecurityRestrictions is empty: nothing can reach the site; expected the sources"


def _secrets_in_key_vault(site: Resource, _: Context) -> Iterator[str]:
    # Names only, never values: a failing value is, by this rule's own premise, a secret.
    for setting in items(site.props, "siteConfig.appSettings"):
        name = value_at(setting, "name")
        if not isinstance(name, str) or not SECRET_LIKE.search(name):
            continue
        value = value_at(setting, "value")
        if value is MISSING:
            yield f"app setting {name} has no value; expected a Key Vault reference"
        elif not isinstance(value, str) or not value.startswith(KEY_VAULT_REFERENCE):
            yield f"app setting {name} holds its value in plain text; expected a Key Vault reference"


def _image_pinned(site: Resource, _: Context) -> Iterator[str]:
    image = value_at(site.props, "siteConfig.linuxFxVersion")
    if image is MISSING:
        yield "siteConfig.linuxFxVersion is not set; expected DOCKER|<image>:<version>"
    elif not pinned_image(str(image).removeprefix("DOCKER|")):
        yield f"siteConfig.linuxFxVersion is {shown(image)}; expected an image pinned to a version"


# The header Cloudflare's transform rule adds to every request for the zone, holding the origin
# credential; App Service's access restrictions can require it (docs/security.md).
ORIGIN_HEADER = "X-Azure-FDID"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _image_digest(site: Resource, _: Context) -> Iterator[str]:
    image = value_at(site.props, "siteConfig.linuxFxVersion")
    if image is MISSING:
        yield "siteConfig.linuxFxVersion is not set; expected DOCKER|<image>@sha256:<digest>"
    elif not DIGEST.search(str(image)):
        yield f"siteConfig.linuxFxVersion is {shown(image)}; expected an image pinned by digest (@sha256:...)"


def _origin_credential(site: Resource, _: Context) -> Iterator[str]:
    """Every rule that admits traffic also requires the origin credential header: an address
    range alone (Cloudflare's) admits every Cloudflare customer's traffic."""
    restrictions = value_at(site.props, "siteConfig.ipSecurityRestrictions")
    if restrictions is MISSING:
        yield (
            "siteConfig.ipSecurityRestrictions is not set; expected allow rules that require the "
            f"{ORIGIN_HEADER} origin credential"
        )
        return
    allows = [
        r
        for r in items(site.props, "siteConfig.ipSecurityRestrictions")
        if isinstance(r, Mapping) and value_at(r, "action") == "Allow"
    ]
    if not allows:
        yield f"siteConfig.ipSecurityRestrictions admits nothing; expected rules requiring {ORIGIN_HEADER}"
    for restriction in allows:
        values = items(restriction, f"headers.{ORIGIN_HEADER}")
        if not values or not all(isinstance(value, str) and value for value in values):
            name = shown(value_at(restriction, "name"))
            yield (
                f"siteConfig.ipSecurityRestrictions: {name} admits requests without the {ORIGIN_HEADER} "
                "header; expected every allow rule to require the origin credential"
            )


RULES: tuple[Rule, ...] = (
    ResourceRule(
        "app-service-https-only",
        "App Service sites and slots redirect HTTP to HTTPS",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_14, CKV_AZURE_153 (slots)"),
        SITES,
        check=requires(("httpsOnly", [True], "true (plain HTTP redirected to HTTPS)")),
    ),
    ResourceRule(
        "app-service-tls-1-2",
        "App Service sites, slots and their Kudu sites accept TLS 1.2 or later only",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_15, CKV_AZURE_154 (slots)"),
        SITES,
        check=_min_tls,
    ),
    ResourceRule(
        "app-service-ftps-disabled",
        "App Service sites and slots accept no FTP or FTPS deployments",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_78; CIS Azure 9.10"),
        SITES,
        check=requires(("siteConfig.ftpsState", ["Disabled"], '"Disabled"')),
    ),
    ResourceRule(
        "app-service-basic-auth-disabled",
        "FTP and SCM basic-auth publishing credentials are disabled on the app and every slot",
        Level.MANDATORY,
        Reference("MCSB", "IM-1"),
        BASIC_AUTH_POLICIES,
        check=requires(("allow", [False], "false (deployments authenticate with Entra)")),
    ),
    ResourceRule(
        "app-service-remote-debugging-off",
        "Remote debugging is off on App Service sites and slots",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_72"),
        SITES,
        check=requires(("siteConfig.remoteDebuggingEnabled", [False], "false")),
    ),
    ResourceRule(
        "app-service-managed-identity",
        "App Service sites and slots run with a managed identity (no stored credentials)",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_71"),
        SITES,
        check=_managed_identity,
    ),
    ResourceRule(
        "app-service-health-check",
        "App Service sites and slots have a health check path, so unhealthy instances leave rotation",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_213"),
        SITES,
        check=_health_check,
    ),
    ResourceRule(
        "app-service-access-restricted",
        "App Service sites and slots (and their Kudu sites) deny by default and admit listed sources only",
        Level.MANDATORY,
        Reference("Checkov", "CKV_AZURE_222 (by access restrictions)"),
        SITES,
        check=_access_restricted,
    ),
    ResourceRule(
        "app-service-secrets-in-key-vault",
        "Secret-like app settings (PASSWORD, SECRET, KEY, TOKEN, CONNECTION) are Key Vault references",
        Level.MANDATORY,
        Reference("MCSB", "IM-8"),
        SITES,
        check=_secrets_in_key_vault,
    ),
    ResourceRule(
        "app-service-image-pinned",
        "App Service sites and slots start from an image pinned to a version (a release can roll back to it)",
        Level.MANDATORY,
        Reference("Checkov", "CKV_K8S_14 (as for pods)"),
        SITES,
        check=_image_pinned,
    ),
    ResourceRule(
        "app-service-origin-credential",
        "App Service sites and slots admit only requests carrying the origin credential Cloudflare's "
        "rule adds (X-Azure-FDID), not every Cloudflare customer's",
        Level.MANDATORY,
        Reference("MCSB", "NS-2 (origin reachable only through this zone's load balancer)"),
        SITES,
        check=_origin_credential,
    ),
    ResourceRule(
        "app-service-image-digest",
        "App Service sites and slots start from an image pinned by digest",
        Level.MANDATORY,
        Reference("Checkov", "CKV_K8S_43 (its App Service counterpart)"),
        SITES,
        check=_image_digest,
    ),
    ResourceRule(
        "app-service-http2",
        "App Service sites and slots serve HTTP/2",
        Level.ADVISORY,
        Reference("Checkov", "CKV_AZURE_18"),
        SITES,
        check=requires(("siteConfig.http20Enabled", [True], "true")),
    ),
)
