"""Key Vault as an environment's secret store (`azure-keyvault-secrets`).

Secrets are named as the app's settings name them (DATABASE_URL); Key Vault allows no underscore,
so the vault holds `database-url` (`contract.key_vault_secret_name`, the rule the infrastructure
also writes them by). The pre-flight lists names only (a disabled secret counts as absent:
App Service cannot resolve a reference to it); a value is read only for the migration's
`DATABASE_URL`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.keyvault.secrets import KeyVaultSecret, SecretClient
from pydantic import SecretStr

from contract import app_setting_name, key_vault_secret_name
from releases.errors import Refused, TargetUnavailable
from releases.settings import CloudSettings
from releases.targets.clients import azure_auth
from releases.topology import KeyVaultSecretStoreSpec

T = TypeVar("T")


class KeyVaultSecrets:
    def __init__(
        self, target: KeyVaultSecretStoreSpec, credential: TokenCredential, clouds: CloudSettings
    ) -> None:

        self.target = target
        self.client = SecretClient(
            target.vault_url,
            credential,
            # Key Vault checks that the vault's host lies under the resource its auth challenge names;
            # off only where a private DNS name breaks that rule (CloudSettings).
            verify_challenge_resource=clouds.key_vault_verify_challenge_resource,
            retry_total=3,
            connection_timeout=clouds.request_timeout_seconds,
            read_timeout=clouds.request_timeout_seconds,
        )

    def __str__(self) -> str:
        return f"Key Vault {self.target.vault_url}"

    def _call(self, what: str, operation: Callable[[], T]) -> T:

        try:
            return operation()
        except ClientAuthenticationError as error:
            raise TargetUnavailable(
                f"{self} refused the credentials while trying to {what}: {azure_auth.summary(error)}"
            ) from None
        except HttpResponseError as error:
            raise TargetUnavailable(
                f"{self} failed to {what}: {error.status_code} {azure_auth.summary(error)}"
            ) from None
        except ServiceRequestError as error:
            raise TargetUnavailable(f"cannot reach {self} to {what}: {azure_auth.summary(error)}") from None

    def names(self) -> set[str]:
        properties = self._call(
            "list its secrets' names", lambda: list(self.client.list_properties_of_secrets())
        )
        return {app_setting_name(p.name) for p in properties if p.name and p.enabled is not False}

    def value(self, name: str) -> SecretStr:

        stored = key_vault_secret_name(name)

        def read() -> KeyVaultSecret | None:
            try:
                return self.client.get_secret(stored)
            except ResourceNotFoundError:
                return None

        secret = self._call(f"read the secret {stored}", read)
        if secret is None or secret.value is None:
            raise Refused(f"{self} holds no secret named {stored}")
        return SecretStr(secret.value)
