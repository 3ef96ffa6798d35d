"""Azure credentials for the adapters: whatever `DefaultAzureCredential` finds (service principal
variables, workload or managed identity, `az login`), checked before a release changes anything."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential

from releases.errors import Refused
from releases.settings import CloudSettings


def credential(settings: CloudSettings) -> TokenCredential:

    if settings.azure_disable_instance_discovery:
        return DefaultAzureCredential(disable_instance_discovery=True)
    return DefaultAzureCredential()


def arm_scope(settings: CloudSettings) -> str:
    return settings.azure_resource_manager.rstrip("/") + "/.default"


def arm_client_options(settings: CloudSettings, polling_interval: float) -> dict[str, Any]:
    """What every ARM management client of ours is built with: the configured ARM endpoint and its
    token scope (sovereign and private clouds), azure-core's retries, our timeouts."""
    return {
        "base_url": settings.azure_resource_manager,
        "credential_scopes": [arm_scope(settings)],
        "retry_total": 3,
        "connection_timeout": settings.request_timeout_seconds,
        "read_timeout": settings.request_timeout_seconds,
        "polling_interval": polling_interval,
    }


def summary(error: Exception) -> str:
    """The first line of an Azure SDK error (its message, never the request), at most 300 characters."""
    return str(getattr(error, "message", None) or error).splitlines()[0][:300]


def check(token_credential: TokenCredential, scope: str) -> None:
    """Fetch a token for `scope` now, so missing credentials stop a command before any change."""

    try:
        token_credential.get_token(scope)
    except ClientAuthenticationError as error:
        raise Refused(
            "no usable Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
            "(or a federated token file), sign in with `az login`, or run with a managed identity "
            f"({summary(error)}); nothing was changed"
        ) from None
