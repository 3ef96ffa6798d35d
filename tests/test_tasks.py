"""`invoke plan` as an operator runs it: exit codes, one JSON document, bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

import tasks
from contract import EXIT_BAD_INPUT
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e


def invoke(*args: str, project: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(project), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plan_json_is_exactly_one_document() -> None:
    result = invoke("plan", "--env", "production", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # fails on anything printed besides the document
    assert document["stack"] == "production"
    assert any(r["type"] == "azure-native:web:WebAppSlot" for r in document["resources"])


def test_plan_table_names_the_stack_and_its_resources() -> None:
    result = invoke("plan", "--env", "staging")
    assert result.returncode == 0, result.stderr
    assert "stack staging:" in result.stdout
    assert "platform-staging-kv" in result.stdout


@pytest.mark.parametrize("command", [tasks.plan, tasks.policy])
@pytest.mark.parametrize(("env", "message"), [("prod", "unknown stack 'prod'"), ("", "--env is required")])
def test_unknown_or_missing_env_is_bad_input(command: Any, env: str, message: str) -> None:
    with pytest.raises(Exit) as raised:
        command(MockContext(), env=env)
    assert raised.value.code == EXIT_BAD_INPUT
    assert message in str(raised.value.message)
    assert "staging or production" in str(raised.value.message) or "staging, production" in str(
        raised.value.message
    )


def test_unknown_env_exits_2_from_the_command_line() -> None:
    result = invoke("plan", "--env", "prod")
    assert result.returncode == 2
    assert "unknown stack 'prod': expected one of staging, production" in result.stderr
    assert result.stdout == ""


def test_invalid_stack_file_exits_2_naming_the_key_and_changes_nothing(tmp_path: Path) -> None:
    for name in ("tasks.py", "Pulumi.yaml", "Pulumi.production.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    stack_file = tmp_path / "Pulumi.staging.yaml"
    stack_file.write_text(
        (PROJECT_DIR / "Pulumi.staging.yaml").read_text() + "  platform:postgresVersion: '14'\n"
    )
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}

    result = invoke("plan", "--env", "staging", project=tmp_path)

    assert result.returncode == 2
    assert 'platform:postgresVersion = "14"' in result.stderr
    assert "expected a Postgres major version: 16, 17 or 18" in result.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()} == before
