"""Parity: every difference between the stacks is explained, and anything else is flagged."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.offline import Plan, run_offline
from infra.parity import compare
from infra.program import build
from tests.conftest import PROJECT_DIR
from tests.test_tasks import invoke


def test_committed_stacks_differ_only_where_allowed(plan_of: Callable[[str], Plan]) -> None:
    differences = compare(plan_of("staging"), plan_of("production"))
    assert [d.path for d in differences if d.flagged] == []
    # The check sees real differences: the sizing table does make the stacks differ.
    sources = {d.source for d in differences}
    assert "SIZING (availability_zones, nat_gateway_per_zone)" in sources
    assert any("highAvailability" in d.path for d in differences)


def test_a_planted_security_difference_is_flagged_naming_the_resource(plan_of: Callable[[str], Plan]) -> None:
    production = plan_of("production")
    planted = [
        dataclasses.replace(r, inputs={**r.inputs, "enableKeyRotation": False})
        if r.type == "aws:kms/key:Key"
        else r
        for r in production.resources
    ]
    differences = compare(plan_of("staging"), dataclasses.replace(production, resources=planted))
    flagged = [d for d in differences if d.flagged]
    assert [(d.path, d.staging, d.production) for d in flagged] == [
        ("aws:kms/key:Key/api-secrets-key-key .enableKeyRotation", True, False)
    ]


def test_a_resource_only_one_stack_declares_is_flagged_unless_zonal(plan_of: Callable[[str], Plan]) -> None:
    production = plan_of("production")
    extra = dataclasses.replace(production.resources[0], name="stray-group")
    differences = compare(
        plan_of("staging"), dataclasses.replace(production, resources=[*production.resources, extra])
    )
    assert [(d.path, d.production) for d in differences if d.flagged] == [
        (f"{extra.type.removeprefix('azure-native:')}/stray-group", "declared")
    ]


@pytest.mark.e2e
def test_parity_command_exits_0_on_the_committed_stacks() -> None:
    result = invoke("parity", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["flagged"] == 0 and document["differences"]


@pytest.mark.e2e
def test_parity_command_flags_a_stack_file_difference_and_exits_1(tmp_path: Path) -> None:
    for name in ("tasks.py", "Pulumi.yaml", "Pulumi.production.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    (tmp_path / "Pulumi.staging.yaml").write_text(
        (PROJECT_DIR / "Pulumi.staging.yaml").read_text() + "  platform:healthCheckPath: /healthz\n"
    )
    result = invoke("parity", project=tmp_path)
    assert result.returncode == 1
    assert "not explained by the sizing table or a stack value" in result.stderr
    assert "web:WebApp/web-app .siteConfig.healthCheckPath" in result.stderr


def test_a_protected_setting_that_differs_between_the_stack_files_is_flagged(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.production.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    staging = (PROJECT_DIR / "Pulumi.staging.yaml").read_text()
    (tmp_path / "Pulumi.staging.yaml").write_text(
        staging.replace("platform:keyVaultSoftDeleteDays: 90", "platform:keyVaultSoftDeleteDays: 30")
    )
    differences = compare(run_offline(tmp_path, "staging", build), run_offline(tmp_path, "production", build))
    flagged = [(d.path, d.staging, d.production) for d in differences if d.flagged]
    assert flagged == [("keyvault:Vault/key-vault-vault .properties.softDeleteRetentionInDays", 30.0, 90.0)]
