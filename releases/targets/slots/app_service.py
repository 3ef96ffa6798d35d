"""An App Service web app's production and staging slots (`azure-mgmt-web`).

Deploying sets the staging slot's container image tag; a swap is ARM's `slotsswap` long-running
operation, retried while another operation holds the app (409). What each slot serves is read
from the slots themselves (their health paths on their own host names), never from ARM's
configuration, which says what should run rather than what does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import CsmSlotEntity, SiteConfig, SiteConfigResource

from releases.errors import Refused, TargetUnavailable
from releases.model import SlotHealth
from releases.targets.clients import azure_auth, retrying
from releases.targets.clients.retrying import RetryDecision, RetryPolicy
from releases.targets.slots.image_tags import TAG, image_reference, split_version
from releases.targets.slots.probe import fetch, probe_slot
from releases.topology import AppServiceSlotPairSpec, HealthPaths

T = TypeVar("T")

PRODUCTION = "production"
CONTAINER_IMAGE = re.compile(
    rf"^DOCKER\|(?P<repository>[^|\s@]+?)(:(?P<tag>{TAG}))?(@sha256:[0-9a-f]{{64}})?$"
)


def image_with_tag(linux_fx_version: str, tag: str) -> str:
    """`DOCKER|registry/app:old` -> `DOCKER|registry/app:<tag>`; a version pinned by digest
    (`1.2.3@sha256:...`) gives `DOCKER|registry/app:1.2.3@sha256:...` (see `image_tags`)."""
    split_version(tag)
    match = CONTAINER_IMAGE.match(linux_fx_version or "")
    if match is None:
        raise Refused(
            f"the staging slot runs {linux_fx_version!r}, not a container image (`DOCKER|repository:tag`); "
            "cannot put a version on it"
        )
    return f"DOCKER|{image_reference(match['repository'], tag)}"


class AppServiceSlots:
    def __init__(
        self,
        target: AppServiceSlotPairSpec,
        health: HealthPaths,
        client: WebSiteManagementClient,
        credential: TokenCredential,
        arm_scope: str,
        policy: RetryPolicy,
        swap_timeout_seconds: float,
    ) -> None:
        self.target = target
        self.health = health
        self.client = client
        self.credential = credential
        self.arm_scope = arm_scope
        self.policy = policy
        self.swap_timeout_seconds = swap_timeout_seconds

    # -- calls -----------------------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[], T], retry_conflicts: bool = False) -> T:

        policy = self.policy
        if retry_conflicts:
            policy = RetryPolicy(self.swap_timeout_seconds, self.policy.max_retry_after_seconds, attempts=60)

        def classify(error: Exception) -> RetryDecision:
            # azure-core already retried 408/429/5xx and connection errors with backoff and
            # Retry-After; what is left here is ARM saying another operation holds the app.
            if retry_conflicts and isinstance(error, HttpResponseError) and error.status_code == 409:
                headers = getattr(error.response, "headers", None) or {}
                return retrying.retry_after_seconds(headers) or True
            return False

        app = f"{self.target.app} ({self.target.resource_group})"
        try:
            return retrying.call(operation, classify, policy)
        except ClientAuthenticationError as error:
            raise TargetUnavailable(
                f"Azure rejected the credentials while trying to {what} on {app}: {azure_auth.summary(error)}"
            ) from None
        except HttpResponseError as error:
            raise TargetUnavailable(
                f"Azure Resource Manager failed to {what} on {app}: "
                f"{error.status_code} {azure_auth.summary(error)}"
            ) from None
        except ServiceRequestError as error:
            raise TargetUnavailable(
                f"cannot reach Azure Resource Manager to {what}: {azure_auth.summary(error)}"
            ) from None

    # -- SlotPair --------------------------------------------------------------------------------

    def probe(self) -> tuple[SlotHealth, SlotHealth]:
        return probe_slot(PRODUCTION, self.target.production_url, self.health), self.probe_staging()

    def probe_staging(self) -> SlotHealth:
        return probe_slot(self.target.slot, self.target.staging_url, self.health)

    def deploy_staging(self, version: str) -> None:

        rg, app, slot = self.target.resource_group, self.target.app, self.target.slot
        current = self._call(
            "read the staging slot's configuration",
            lambda: self.client.web_apps.get_configuration_slot(rg, app, slot),
        )
        image = image_with_tag(
            (current.properties.linux_fx_version if current.properties else None) or "", version
        )
        update = SiteConfigResource(properties=SiteConfig(linux_fx_version=image))
        self._call(
            f"set the staging slot's image to {image.removeprefix('DOCKER|')}",
            lambda: self.client.web_apps.update_configuration_slot(rg, app, slot, update),
        )

    def swap(self) -> None:

        rg, app, slot = self.target.resource_group, self.target.app, self.target.slot
        entity = CsmSlotEntity(target_slot=PRODUCTION, preserve_vnet=True)
        self._call(
            f"swap slot {slot} with production",
            lambda: self.client.web_apps.begin_swap_slot(rg, app, slot, entity).result(
                timeout=self.swap_timeout_seconds
            ),
            retry_conflicts=True,
        )

    def preflight(self) -> None:
        azure_auth.check(self.credential, self.arm_scope)
        differing = self.sticky_differences()
        if differing:
            raise Refused(
                f"slot-sticky settings differ between production and {self.target.slot}: "
                f"{', '.join(sorted(differing))}. A swap would apply them to the instances serving canary "
                "traffic and restart them; make them equal (or not sticky) first. Nothing was changed"
            )

    def unresolved_references(self) -> list[str]:
        """App settings of the staging slot whose Key Vault reference App Service did not resolve
        (ARM's config-reference status: anything but `Resolved`)."""
        rg, app, slot = self.target.resource_group, self.target.app, self.target.slot
        references = self._call(
            "read the staging slot's Key Vault reference status",
            lambda: list(self.client.web_apps.get_app_settings_key_vault_references_slot(rg, app, slot)),
        )
        return sorted(
            reference.name or "?"
            for reference in references
            if reference.properties is not None and reference.properties.status != "Resolved"
        )

    def url(self, staging: bool) -> str:
        return self.target.staging_url if staging else self.target.production_url

    def fetch(self, staging: bool, path: str, timeout: float) -> tuple[int, str]:
        return fetch(self.url(staging), path, timeout)

    def sticky_differences(self) -> set[str]:
        """Names (never values) of slot-sticky app settings and connection strings whose values
        differ between the two slots."""
        rg, app, slot = self.target.resource_group, self.target.app, self.target.slot
        web = self.client.web_apps
        names = self._call(
            "read the slot-sticky setting names", lambda: web.list_slot_configuration_names(rg, app)
        )
        sticky = names.properties
        differing: set[str] = set()
        if sticky is None:
            return differing
        if sticky.app_setting_names:
            production = self._call(
                "read app settings", lambda: web.list_application_settings(rg, app)
            ).properties
            staging = self._call(
                "read the staging slot's app settings",
                lambda: web.list_application_settings_slot(rg, app, slot),
            ).properties
            differing |= _differ(sticky.app_setting_names, production or {}, staging or {})
        if sticky.connection_string_names:
            production_cs = self._call(
                "read connection strings", lambda: web.list_connection_strings(rg, app)
            )
            staging_cs = self._call(
                "read the staging slot's connection strings",
                lambda: web.list_connection_strings_slot(rg, app, slot),
            )
            differing |= _differ(
                sticky.connection_string_names,
                {k: (v.value, v.type) for k, v in (production_cs.properties or {}).items()},
                {k: (v.value, v.type) for k, v in (staging_cs.properties or {}).items()},
            )
        return differing


def _differ(names: list[str], production: Mapping[str, object], staging: Mapping[str, object]) -> set[str]:
    return {name for name in names if production.get(name) != staging.get(name)}
