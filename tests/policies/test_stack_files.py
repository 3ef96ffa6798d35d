"""The acceptance: weakening any one protected setting in a stack file makes the policy check fail,
naming the rule and the resource; the committed files pass."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.offline import run_offline
from infra.program import build
from infra.settings import PROTECTED_KEYS
from policies.check import check_plan
from policies.rules import RULES
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

# Each protected key, a weak value the clouds accept, and the (rule, resource) pairs it must break.
WEAKENED: dict[str, tuple[str, set[tuple[str, str]]]] = {
    "webMinTlsVersion": (
        '"1.0"',
        {("app-service-tls-1-2", "web-app"), ("app-service-tls-1-2", "web-staging-slot")},
    ),
    "webFtpsState": (
        "FtpsOnly",
        {("app-service-ftps-disabled", "web-app"), ("app-service-ftps-disabled", "web-staging-slot")},
    ),
    "webRemoteDebugging": (
        "true",
        {
            ("app-service-remote-debugging-off", "web-app"),
            ("app-service-remote-debugging-off", "web-staging-slot"),
        },
    ),
    "keyVaultPurgeProtection": ("false", {("key-vault-purge-protection", "key-vault-vault")}),
    "keyVaultSoftDeleteDays": ("7", {("key-vault-soft-delete-90-days", "key-vault-vault")}),
    "keyVaultPublicNetworkAccess": ("Enabled", {("key-vault-no-public-access", "key-vault-vault")}),
    "postgresPasswordAuth": ("Enabled", {("postgres-entra-authentication", "postgres-server")}),
    "redisAccessKeys": ("Enabled", {("redis-access-keys-disabled", "redis-database")}),
    "redisPublicNetworkAccess": ("Enabled", {("redis-no-public-access", "redis-cluster")}),
    "kmsKeyRotation": ("false", {("kms-key-rotation", "api-secrets-key-key")}),
    "nodeMetadataHopLimit": ("2", {("launch-template-imds-hop-limit", "api-nodes-template")}),
    "protectStatefulResources": (
        "false",
        {
            ("stateful-resources-protected", "postgres-server"),
            ("stateful-resources-protected", "key-vault-vault"),
            ("stateful-resources-protected", "api-secrets-key-key"),
            ("stateful-resources-protected", "api-cluster-cluster"),
        },
    ),
    "clusterPublicAccessCidrs": (
        '["203.0.113.0/24", "0.0.0.0/0"]',
        {("eks-endpoint-restricted", "api-cluster-cluster")},
    ),
    "awsLogRetentionDays": (
        "90",
        {
            ("cloudwatch-log-retention-1-year", "api-network-flow-logs"),
            ("cloudwatch-log-retention-1-year", "api-cluster-control-plane-logs"),
        },
    ),
}


def project_with(tmp_path: Path, stack: str, key: str, value: str) -> Path:
    """A copy of the project's configuration (and tasks.py) with one stack-file value replaced."""
    for name in ("tasks.py", "Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    stack_file = tmp_path / f"Pulumi.{stack}.yaml"
    text = stack_file.read_text()
    line = re.compile(rf"^  platform:{key}:.*(\n    - .*)*$", re.MULTILINE)
    assert line.search(text), f"{key} is not stated in Pulumi.{stack}.yaml"
    stack_file.write_text(line.sub(f"  platform:{key}: {value}", text, count=1))
    return tmp_path


def test_every_protected_setting_is_exercised() -> None:
    assert sorted(WEAKENED) == sorted(PROTECTED_KEYS)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_committed_stacks_break_no_mandatory_rule(stack: str) -> None:
    report = check_plan(run_offline(PROJECT_DIR, stack, build), RULES)
    assert report.blocking == []
    assert {outcome.status.value for outcome in report.outcomes} <= {"pass", "not applicable"}


@pytest.mark.parametrize("key", sorted(WEAKENED))
def test_weakening_a_protected_setting_names_the_rule_and_the_resource(key: str, tmp_path: Path) -> None:
    weak, broken = WEAKENED[key]
    report = check_plan(
        run_offline(project_with(tmp_path, "production", key, weak), "production", build), RULES
    )
    found = {
        (outcome.rule.id, finding.resource.split(" ", 1)[0])
        for outcome in report.blocking
        for finding in outcome.findings
    }
    assert found == broken


def invoke(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(project), "policy", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "COLUMNS": "250"},  # a wide terminal: the table's cells unwrapped
    )


def test_invoke_policy_exits_1_naming_rule_and_resource(tmp_path: Path) -> None:
    project = project_with(tmp_path, "staging", "keyVaultPurgeProtection", "false")
    before = {p.name: p.read_bytes() for p in project.iterdir()}

    result = invoke(project, "--env", "staging")

    assert result.returncode == 1
    assert "key-vault-purge-protection on key-vault-vault (azure-native:keyvault:Vault)" in result.stderr
    assert "properties.enablePurgeProtection is false; expected true" in result.stdout
    assert {p.name: p.read_bytes() for p in project.iterdir()} == before  # a check changes nothing


def test_invoke_policy_json_lists_every_rule_with_its_violations(tmp_path: Path) -> None:
    project = project_with(tmp_path, "production", "clusterPublicAccessCidrs", '["0.0.0.0/0"]')

    result = invoke(project, "--env", "production", "--json")

    assert result.returncode == 1
    document = json.loads(result.stdout)  # one document, nothing else on stdout
    rules = {rule["id"]: rule for rule in document["rules"]}
    assert sorted(rules) == sorted(rule.id for rule in RULES)
    assert all({"id", "reference", "enforcement", "violations"} <= rule.keys() for rule in rules.values())
    endpoint = rules["eks-endpoint-restricted"]
    assert (endpoint["enforcement"], endpoint["reference"], endpoint["status"]) == (
        "mandatory",
        "Checkov CKV_AWS_38",
        "violated",
    )
    assert [v["resource"] for v in endpoint["violations"]] == [
        "api-cluster-cluster (aws:eks/cluster:Cluster)"
    ]
    assert document["passed"] is False
