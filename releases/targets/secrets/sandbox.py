"""The sandbox's own secret store: what Key Vault is in the cloud, as one JSON file readable by
its owner only (`<sandbox>/secrets.json`, mode 0600).

The sandbox writes the secrets its processes need when it starts (the database and Redis URLs
with generated passwords, a session key); slot processes get the values in their environment when
they (re)start, as App Service resolves Key Vault references when a slot starts. Nothing prints a
value: the store answers the pre-flight with names only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import SecretStr

from releases.errors import Refused
from releases.state_files import private_directory


class SandboxSecrets:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return f"the sandbox's secret store ({self.path})"

    def _read(self) -> dict[str, str]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise Refused(f"{self} cannot be read ({type(error).__name__}); restart the sandbox") from None
        if not isinstance(document, dict):
            raise Refused(f"{self} is not a JSON object of names and values; restart the sandbox")
        return {str(name): str(value) for name, value in document.items()}

    def _write(self, values: dict[str, str]) -> None:
        private_directory(self.path.parent)
        temporary = self.path.with_suffix(".tmp")
        # Created 0600 before anything is written into it (no window where others could read it).
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(values, file, indent=2, sort_keys=True)
        temporary.replace(self.path)

    def names(self) -> set[str]:
        return set(self._read())

    def value(self, name: str) -> SecretStr:
        values = self._read()
        if name not in values:
            raise Refused(f"{self} holds no secret named {name}")
        return SecretStr(values[name])

    def values(self) -> dict[str, str]:
        """Every value, for a slot process's environment (never to be shown)."""
        return self._read()

    def put(self, name: str, value: str) -> None:
        self._write({**self._read(), name: value})

    def remove(self, name: str) -> bool:
        values = self._read()
        if name not in values:
            return False
        del values[name]
        self._write(values)
        return True
