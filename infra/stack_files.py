"""Reads `Pulumi.yaml` and `Pulumi.<stack>.yaml` the way the Pulumi CLI hands them to a program.

Used where there is no Pulumi CLI: the offline plan and the tests. Project defaults are overlaid
with the stack's values, and every value is passed as the string the CLI would pass (lists as
JSON). Secrets cannot be decrypted offline, so each secret key gets a placeholder marked secret:
the offline plan prints every secret as "[secret]" anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.settings import PROJECT, STACK_NAMES, SettingsError

OFFLINE_SECRET_PLACEHOLDER = "offline-placeholder-secret"


@dataclass(frozen=True)
class StackConfigValues:
    values: dict[str, str]  # namespaced keys ("platform:location") to raw string values
    secret_keys: list[str]


@dataclass(frozen=True)
class DeclaredKey:
    key: str  # without the namespace
    description: str
    secret: bool
    default: Any  # None when the key is required


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"{path.name} not found in {path.parent}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path.name} must be a YAML mapping")
    return loaded


def _plain(key: str) -> str:
    return key.split(":", 1)[1] if key.startswith(f"{PROJECT}:") else key


def _as_config_string(value: Any) -> str:
    """The CLI passes strings as they are and everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def declared_keys(project_dir: Path) -> dict[str, DeclaredKey]:
    """The configuration keys documented in Pulumi.yaml."""
    declared = _load_yaml(project_dir / "Pulumi.yaml").get("config") or {}
    return {
        _plain(key): DeclaredKey(
            key=_plain(key),
            description=str(spec.get("description", "")),
            secret=bool(spec.get("secret", False)),
            default=spec.get("default"),
        )
        for key, spec in declared.items()
    }


def stack_file(project_dir: Path, stack: str) -> Path:
    if stack not in STACK_NAMES:
        raise SettingsError(f"unknown stack {stack!r}: expected one of {', '.join(STACK_NAMES)}")
    return project_dir / f"Pulumi.{stack}.yaml"


def load_stack_config(project_dir: Path, stack: str) -> StackConfigValues:
    """Merge project defaults with the stack file; reject keys Pulumi.yaml does not declare."""
    declared = declared_keys(project_dir)
    path = stack_file(project_dir, stack)
    stack_values = _load_yaml(path).get("config") or {}

    # Other namespaces (azure-native:..., provider settings) belong to providers, not to us.
    ours = [key for key in stack_values if ":" not in key or key.startswith(f"{PROJECT}:")]
    unknown = sorted(key for key in ours if _plain(key) not in declared)
    if unknown:
        raise SettingsError(
            f"{path.name}: unknown configuration key(s) {', '.join(unknown)}; "
            f"expected keys declared in Pulumi.yaml: {', '.join(f'{PROJECT}:{k}' for k in declared)}"
        )

    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, spec in declared.items():
        name = f"{PROJECT}:{key}"
        if spec.secret:
            if isinstance(stack_values.get(name), str):
                raise SettingsError(
                    f"{path.name}: {name} holds plain text; a secret must be stored encrypted: "
                    f"`pulumi config set --secret {name} --stack {stack}`"
                )
            values[name] = OFFLINE_SECRET_PLACEHOLDER
            secret_keys.append(name)
            continue
        value = stack_values.get(name, spec.default)
        if value is not None:
            values[name] = _as_config_string(value)
    return StackConfigValues(values=values, secret_keys=secret_keys)
