"""Release settings: runbook defaults, per-environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from releases.errors import BadInput
from releases.settings import load_release_settings


def test_defaults_are_the_runbooks_figures(tmp_path: Path) -> None:
    production = load_release_settings({}, tmp_path).environment("production")
    assert production.steps == (10, 50, 100)
    assert production.health.consecutive == 5
    assert production.analysis.max_error_rate == 0.01
    assert production.analysis.max_p95_seconds == 0.5


def test_steps_must_end_with_the_promotion(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"releases\.sandbox\.steps: .*end with 100"):
        load_release_settings({"sandbox": {"steps": [10, 50]}}, tmp_path)


def test_an_unknown_environment_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown --env 'qa'; expected one of: sandbox, staging, production"):
        load_release_settings({}, tmp_path).environment("qa")


def test_an_approval_step_follows_a_canary_step(tmp_path: Path) -> None:
    settings = load_release_settings({"production": {"steps": "10, 50, approve, 100"}}, tmp_path)
    production = settings.environment("production")
    assert production.steps == (10, 50, "approve", 100)
    assert production.percents == (10, 50, 100) and production.approvals == {50}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["approve", 10, 100], "`approve` must follow a canary step"),
        ([10, "approve", "approve", 100], "`approve` must follow a canary step"),
        ([10, 100, "approve"], "end with 100"),
        ([10, "later", 100], r"steps\.1"),
        ([50, 10, 100], "rising"),
    ],
)
def test_steps_are_validated(tmp_path: Path, steps: list[object], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        load_release_settings({"production": {"steps": steps}}, tmp_path)
