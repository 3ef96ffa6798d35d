"""The pack as `pulumi preview --policy-pack policies` runs it: started the way the CLI's Python
analyzer starts it, asked over gRPC (on 127.0.0.1) exactly what the engine asks, including a
resource whose value is unknown during preview."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.offline import UNKNOWN
from policies.rule import Level
from policies.rules import RULES
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

VAULT = "azure-native:keyvault:Vault"
VAULT_URN = f"urn:pulumi:production::platform::platform:azure:KeyVault${VAULT}::key-vault-vault"


def test_importing_the_rules_starts_nothing() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import policies, policies.rules, policies.check; print(len(policies.rules.RULES))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=PROJECT_DIR,
    )
    # Served, the pack would print its port and never exit.
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(RULES))


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    environment = {
        **os.environ,
        "PULUMI_PROJECT": "platform",
        "PULUMI_STACK": "production",
        "PULUMI_DRY_RUN": "true",
    }
    # What pulumi-analyzer-policy-python runs: the SDK's loader, the engine's address, the pack.
    pack = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PROJECT_DIR / "policies")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=PROJECT_DIR,
    )
    try:
        assert pack.stdout is not None
        port = pack.stdout.readline().strip()
        assert port.isdigit(), f"the pack did not start: {port!r} {pack.stderr.read() if pack.stderr else ''}"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        pack.terminate()
        pack.wait(timeout=30)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _vault(**properties: Any) -> dict[str, Any]:
    secure = {
        "enableRbacAuthorization": True,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enablePurgeProtection": True,
        "publicNetworkAccess": "Disabled",
        "networkAcls": {"defaultAction": "Deny", "bypass": "None"},
    }
    return {"vaultName": "platform-production-kv", "properties": {**secure, **properties}}


def _analyze(
    stub: analyzer_pb2_grpc.AnalyzerStub, props: dict[str, Any], *, protect: bool = True
) -> list[Any]:
    request = analyzer_pb2.AnalyzeRequest(
        type=VAULT,
        properties=_struct(props),
        urn=VAULT_URN,
        name="key-vault-vault",
        options=analyzer_pb2.AnalyzerResourceOptions(protect=protect),
    )
    return list(stub.Analyze(request, timeout=30).diagnostics)


def test_the_engine_sees_every_rule_with_its_level_and_reference(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    served = {policy.name: policy for policy in info.policies}
    assert info.name == "platform-security"
    assert sorted(served) == sorted(rule.id for rule in RULES)
    for rule in RULES:
        expected = analyzer_pb2.MANDATORY if rule.level is Level.MANDATORY else analyzer_pb2.ADVISORY
        assert served[rule.id].enforcementLevel == expected, rule.id
        if rule.reference:
            assert served[rule.id].framework.reference == rule.reference.items


def test_a_secure_vault_passes(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert _analyze(analyzer, _vault()) == []


def test_a_weakened_vault_is_a_mandatory_violation(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    diagnostics = _analyze(analyzer, _vault(enablePurgeProtection=False), protect=False)
    assert sorted(d.policyName for d in diagnostics) == [
        "key-vault-purge-protection",
        "stateful-resources-protected",
    ]
    assert {d.enforcementLevel for d in diagnostics} == {analyzer_pb2.MANDATORY}
    assert all(d.urn == VAULT_URN for d in diagnostics)
    purge = next(d for d in diagnostics if d.policyName == "key-vault-purge-protection")
    assert "properties.enablePurgeProtection is false; expected true" in purge.message


def test_an_unknown_value_blocks_instead_of_passing_with_a_note(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    # pulumi_policy's own handling would turn this into an advisory note and let the rule pass.
    diagnostics = _analyze(analyzer, _vault(enablePurgeProtection=UNKNOWN))
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("key-vault-purge-protection", analyzer_pb2.MANDATORY)
    ]
    assert "can't be known during preview" in diagnostics[0].message


def test_stack_rules_see_how_resources_relate(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    vpc_urn = "urn:pulumi:production::platform::platform:aws:Network$aws:ec2/vpc:Vpc::api-network-vpc"
    vpc = analyzer_pb2.AnalyzerResource(
        type="aws:ec2/vpc:Vpc",
        properties=_struct({"cidrBlock": "10.50.0.0/16"}),
        urn=vpc_urn,
        name="api-network-vpc",
    )
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[vpc]), timeout=30)
    found = sorted((d.policyName, d.urn) for d in response.diagnostics)
    assert found == [("vpc-default-security-group-managed", vpc_urn), ("vpc-flow-logs", vpc_urn)]
