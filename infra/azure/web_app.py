"""The web app on App Service: a Linux plan, the production slot and its `staging` slot.

Both slots are built from one function so they cannot drift. Releases (not Pulumi) own the image
each slot runs, so `siteConfig.linuxFxVersion` is in `ignore_changes`: `pulumi up` never undoes a
release in progress (docs/design.md).

Identities. Each slot has a system-assigned identity, used for Key Vault references. A swap moves
app settings with the code but leaves identities with the slot, so a connection string that named
one slot's identity would break the moment the slots swap. Data access (Postgres, Redis) therefore
goes through one user-assigned identity that both slots carry; `DATABASE_URL` and `REDIS_URL` name
it, and are identical on both slots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity, web

from infra.azure.diagnostics import send_to_workspace
from infra.azure.key_vault import key_vault_reference
from infra.azure.placement import Placement
from infra.cloudflare.origin_credential import ORIGIN_HEADER

STAGING_SLOT = "staging"
# Property paths (engine wire names) that releases own.
RELEASE_OWNED_PROPERTIES = ["siteConfig.linuxFxVersion"]


@dataclass(frozen=True)
class AppIdentity:
    """An identity the app runs as: `slot` is production, staging, or `data` for the shared one."""

    slot: str
    principal_name: pulumi.Output[str]
    principal_id: pulumi.Output[str]


@dataclass(frozen=True)
class WebAppArgs:
    sku: str
    workers: int
    zone_redundant: bool
    initial_image: str
    container_port: int
    health_check_path: str
    public_hostname: str
    allowed_source_cidrs: Sequence[str]
    subnet_id: pulumi.Input[str]
    vault_name: str
    # App settings whose values live in Key Vault; each becomes a Key Vault reference.
    secret_app_settings: Sequence[str]
    workspace_id: pulumi.Input[str]
    # Protected settings (stack file), the same on both slots.
    min_tls_version: str
    ftps_state: str
    remote_debugging: bool
    # The origin credential Cloudflare adds (infra/cloudflare/origin_credential.py): every allow
    # rule requires it, so Cloudflare's ranges alone admit nobody.
    origin_credential: pulumi.Input[str]


def _principal_id(
    identity: pulumi.Output[web.outputs.ManagedServiceIdentityResponse | None],
) -> pulumi.Output[str]:
    return identity.apply(lambda value: (value.principal_id if value else None) or "")


class WebApp(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        placement: Placement,
        args: WebAppArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:azure:WebApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        release_owned = pulumi.ResourceOptions(parent=self, ignore_changes=RELEASE_OWNED_PROPERTIES)
        app_name = placement.name("web")

        data_identity = managedidentity.UserAssignedIdentity(
            f"{name}-data-identity",
            resource_name_=placement.name("web-data"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=dict(placement.tags),
            opts=child,
        )
        plan = web.AppServicePlan(
            f"{name}-plan",
            name=placement.name("plan"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            kind="linux",
            reserved=True,  # Linux
            sku=web.SkuDescriptionArgs(name=args.sku, capacity=args.workers),
            zone_redundant=args.zone_redundant,
            tags=dict(placement.tags),
            opts=child,
        )

        plain_settings: Mapping[str, pulumi.Input[str]] = {
            "NODE_ENV": "production",
            "NEXTAUTH_URL": f"https://{args.public_hostname}",
            "WEBSITES_PORT": str(args.container_port),
            "WEBSITES_ENABLE_APP_SERVICE_STORAGE": "false",
            # Selects the shared data identity for DefaultAzureCredential in the app.
            "AZURE_CLIENT_ID": data_identity.client_id,
        }
        app_settings = [
            web.NameValuePairArgs(name=key, value=value) for key, value in plain_settings.items()
        ] + [
            web.NameValuePairArgs(name=key, value=key_vault_reference(args.vault_name, key))
            for key in args.secret_app_settings
        ]
        identity = web.ManagedServiceIdentityArgs(
            type=web.ManagedServiceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED,
            user_assigned_identities=[data_identity.id],
        )
        slot_settings = {
            "server_farm_id": plan.id,
            "resource_group_name": placement.resource_group_name,
            "location": placement.location,
            "kind": "app,linux,container",
            "https_only": True,
            "client_affinity_enabled": False,
            "identity": identity,
            "key_vault_reference_identity": "SystemAssigned",
            "virtual_network_subnet_id": args.subnet_id,
            "site_config": self._site_config(args, app_settings),
            "tags": dict(placement.tags),
        }

        app = web.WebApp(f"{name}-app", name=app_name, **slot_settings, opts=release_owned)
        staging = web.WebAppSlot(
            f"{name}-staging-slot", name=app.name, slot=STAGING_SLOT, **slot_settings, opts=release_owned
        )
        # Declares, and owns, the list of slot-sticky settings: empty. A swap then carries every
        # setting with the code and restarts nothing (docs/design.md).
        web.WebAppSlotConfigurationNames(
            f"{name}-sticky-settings",
            name=app.name,
            resource_group_name=placement.resource_group_name,
            app_setting_names=[],
            connection_string_names=[],
            azure_storage_config_names=[],
            opts=child,
        )
        # Images are pushed to a registry, never uploaded: basic-auth publishing stays off.
        for protocol, policy in (("ftp", web.WebAppFtpAllowed), ("scm", web.WebAppScmAllowed)):
            policy(
                f"{name}-{protocol}-basic-auth",
                name=app.name,
                resource_group_name=placement.resource_group_name,
                allow=False,
                opts=child,
            )
        for protocol, slot_policy in (("ftp", web.WebAppFtpAllowedSlot), ("scm", web.WebAppScmAllowedSlot)):
            slot_policy(
                f"{name}-staging-{protocol}-basic-auth",
                name=app.name,
                slot=STAGING_SLOT,
                resource_group_name=placement.resource_group_name,
                allow=False,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[staging]),
            )
        send_to_workspace(f"{name}-app-diagnostics", app.id, args.workspace_id, parent=self)
        send_to_workspace(f"{name}-staging-diagnostics", staging.id, args.workspace_id, parent=self)

        self.app_id = app.id
        self.app_name = app.name
        self.production_hostname = app.default_host_name
        self.staging_hostname = staging.default_host_name
        self.slot_identities = [
            AppIdentity("production", app.name, _principal_id(app.identity)),
            AppIdentity(
                STAGING_SLOT,
                pulumi.Output.concat(app.name, "/slots/", STAGING_SLOT),
                _principal_id(staging.identity),
            ),
        ]
        self.data_identity = AppIdentity("data", data_identity.name, data_identity.principal_id)
        self.register_outputs(
            {
                "app_id": self.app_id,
                "production_hostname": self.production_hostname,
                "staging_hostname": self.staging_hostname,
            }
        )

    @staticmethod
    def _site_config(args: WebAppArgs, app_settings: list[web.NameValuePairArgs]) -> web.SiteConfigArgs:
        restrictions = [
            web.IpSecurityRestrictionArgs(
                name=f"cloudflare-{index}",
                ip_address=cidr,
                action="Allow",
                priority=100 + index,
                description="Cloudflare published range, with this zone's origin credential",
                headers={ORIGIN_HEADER: [args.origin_credential]},
            )
            for index, cidr in enumerate(args.allowed_source_cidrs)
        ]
        return web.SiteConfigArgs(
            linux_fx_version=f"DOCKER|{args.initial_image}",
            app_settings=app_settings,
            always_on=True,
            http20_enabled=True,
            min_tls_version=args.min_tls_version,
            scm_min_tls_version=args.min_tls_version,
            ftps_state=args.ftps_state,
            remote_debugging_enabled=args.remote_debugging,
            health_check_path=args.health_check_path,
            vnet_route_all_enabled=True,
            # Only this zone's Cloudflare traffic reaches the slots (a Cloudflare range and the origin
            # credential); the Kudu (SCM) site is closed to everyone.
            ip_security_restrictions=restrictions,
            ip_security_restrictions_default_action="Deny",
            scm_ip_security_restrictions_use_main=False,
            scm_ip_security_restrictions_default_action="Deny",
        )
