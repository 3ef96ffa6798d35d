"""Pulumi.yaml documents every key; stack files hold values only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.settings import SettingsError, config_keys
from infra.stack_files import OFFLINE_SECRET_PLACEHOLDER, declared_keys, load_stack_config
from tests.conftest import PROJECT_DIR, STACKS


def test_every_key_the_program_reads_is_documented() -> None:
    declared = declared_keys(PROJECT_DIR)
    assert sorted(declared) == sorted(config_keys())
    for key, secret in config_keys().items():
        assert declared[key].description, f"platform:{key} has no description"
        assert declared[key].secret is secret, f"platform:{key}: secret should be {secret}"
        if secret:
            assert declared[key].default is None, f"platform:{key}: a secret has no default"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_hold_values_only(stack: str) -> None:
    raw = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    assert set(raw) == {"config"}
    for key, value in raw["config"].items():
        assert not isinstance(value, dict) or set(value) == {"secure"}, f"{key} is not a plain value"


def make_project(tmp_path: Path, stack_config: dict[str, object]) -> Path:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump({"config": stack_config}))
    return tmp_path


def test_stack_values_override_defaults_and_lists_arrive_as_json(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"platform:location": "northeurope", "platform:alertEmails": ["a@b.io"]})
    loaded = load_stack_config(project, "staging")
    assert loaded.values["platform:location"] == "northeurope"
    assert loaded.values["platform:alertEmails"] == '["a@b.io"]'
    assert loaded.values["platform:webContainerPort"] == "3000"  # project default, as the CLI passes it


def test_secrets_get_an_offline_placeholder_marked_secret(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"platform:stripeSecretKey": {"secure": "v1:AAAA"}})
    loaded = load_stack_config(project, "staging")
    assert loaded.values["platform:stripeSecretKey"] == OFFLINE_SECRET_PLACEHOLDER
    assert "platform:stripeSecretKey" in loaded.secret_keys


def test_plain_text_secret_in_a_stack_file_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"platform:stripeSecretKey": "sk_test_plaintext"})
    with pytest.raises(SettingsError, match=r"platform:stripeSecretKey holds plain text.*--secret"):
        load_stack_config(project, "staging")


def test_unknown_key_is_refused_but_provider_keys_are_allowed(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"platform:locaton": "westeurope"})
    with pytest.raises(SettingsError, match=r"unknown configuration key\(s\) platform:locaton"):
        load_stack_config(project, "staging")
    project = make_project(tmp_path, {"azure-native:location": "westeurope"})
    assert "azure-native:location" not in load_stack_config(project, "staging").values


def test_malformed_yaml_is_reported(tmp_path: Path) -> None:
    make_project(tmp_path, {})
    (tmp_path / "Pulumi.staging.yaml").write_text("config: [unclosed\n")
    with pytest.raises(SettingsError, match=r"Pulumi\.staging\.yaml is not valid YAML"):
        load_stack_config(tmp_path, "staging")
