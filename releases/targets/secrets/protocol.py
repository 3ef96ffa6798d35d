"""What the pre-flight and the migration ask of a secret store (Key Vault; the sandbox's own)."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class SecretStore(Protocol):
    """Where an environment's secrets live (Key Vault; the sandbox's own store)."""

    def names(self) -> set[str]:
        """The names of the secrets present and enabled; reads no value."""
        ...

    def value(self, name: str) -> SecretStr:
        """One secret's value (the migration's `DATABASE_URL`); `Refused` when absent."""
        ...
