"""Which state store a command uses: the URL from the environment or the configuration, else the
one a team keeps in Key Vault, else the SQLite file under the state directory."""

from __future__ import annotations

from releases.settings import ReleaseSettings

# Key Vault is asked once per process (a command builds one engine per service).
_from_vault: dict[tuple[str, str], str] = {}


def state_url(settings: ReleaseSettings) -> str:
    """The state store's URL, with its password: hand it to `StateStore`, never to a message."""
    given = settings.state_url.get_secret_value()
    if given:
        return given
    secret = settings.state_url_secret
    if secret is None:
        return f"sqlite:///{settings.journal_path}"
    key = (secret.vault_url, secret.name)
    if key not in _from_vault:
        from releases.targets.clients import azure_auth
        from releases.targets.secrets.key_vault import KeyVaultSecrets
        from releases.topology import KeyVaultSecretStoreSpec

        vault = KeyVaultSecrets(
            KeyVaultSecretStoreSpec(vault_url=secret.vault_url),
            azure_auth.credential(settings.clouds),
            settings.clouds,
        )
        _from_vault[key] = vault.value(secret.name).get_secret_value()
    return _from_vault[key]
