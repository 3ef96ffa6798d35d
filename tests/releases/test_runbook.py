"""The runbook's checks on their own: smoke commands see the slot's URL, commands that hang or do
not exist fail clearly, and a migration's output never carries the database URL."""

from __future__ import annotations

import sys

import pytest
from pydantic import SecretStr

from releases import runbook
from releases.errors import GateFailed, Refused
from releases.settings import Migrations, SmokeCheck, SmokeTests
from tests.releases.fakes import FakeSecrets, FakeSlots

URL = SecretStr("postgresql://app:hunter2@127.0.0.1:5432/app")


def test_a_smoke_command_gets_the_slot_url_and_its_exit_status_decides() -> None:
    check_url = "import os, sys; sys.exit(0 if os.environ['SMOKE_URL'] == 'http://green.invalid' else 7)"
    smoke = SmokeTests(command=(sys.executable, "-c", check_url))
    assert runbook.smoke_test(FakeSlots(), smoke, staging=True) == []
    assert runbook.smoke_test(FakeSlots(), smoke, staging=False) == [
        "the smoke command failed on production (exit 7): (no output)"
    ]


def test_a_hanging_or_missing_smoke_command_fails_with_a_reason() -> None:
    hanging = SmokeTests(command=(sys.executable, "-c", "import time; time.sleep(30)"), timeout_seconds=0.5)
    assert runbook.smoke_test(FakeSlots(), hanging, staging=True) == [
        "the smoke command did not finish within 0.5 s on staging"
    ]
    missing = SmokeTests(command=("/nonexistent/smoke",))
    assert runbook.smoke_test(FakeSlots(), missing, staging=True) == [
        "the smoke command '/nonexistent/smoke' was not found"
    ]


def test_http_checks_report_status_and_body_mismatches() -> None:
    slots = FakeSlots()
    smoke = SmokeTests(
        checks=(SmokeCheck(path="/"), SmokeCheck(path="/", contains="welcome"), SmokeCheck(path="/missing"))
    )
    assert runbook.smoke_test(slots, smoke, staging=True) == [
        "GET / on staging: the body does not contain 'welcome'",
        "GET /missing on staging answered 404, expected 200",
    ]


def test_a_migration_that_hangs_is_stopped_and_its_output_masked() -> None:
    script = "import os, time; print('connecting to', os.environ['DATABASE_URL']); time.sleep(30)"
    command = (sys.executable, "-u", "-c", script)
    with pytest.raises(GateFailed, match=r"did not finish within 1 s") as failed:
        runbook.run_migration(Migrations(command=command, timeout_seconds=1), URL, "2.0.0")
    assert "connecting to [secret]" in str(failed.value) and "hunter2" not in str(failed.value)


def test_a_migration_command_that_does_not_exist_is_named() -> None:
    with pytest.raises(GateFailed, match="'/nonexistent/migrate' was not found; nothing was deployed"):
        runbook.run_migration(Migrations(command=("/nonexistent/migrate",)), URL, "2.0.0")


def test_required_secrets_without_a_store_are_refused() -> None:
    with pytest.raises(Refused, match="describes no secret store"):
        runbook.check_secrets(None, ("DATABASE_URL",), FakeSlots())
    runbook.check_secrets(None, (), FakeSlots())  # nothing required: nothing to check
    runbook.check_secrets(FakeSecrets(), ("DATABASE_URL",), FakeSlots())
