"""One version rule for every environment (a container tag, not `latest`, optionally pinned by
digest), checked before anything is read: bad input exits 2 naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from releases.engine import Engine
from releases.errors import BadInput
from releases.journal import Journal
from releases.settings import EnvironmentSettings
from releases.targets.slots.image_tags import check_version
from tests.releases.fakes import FakeClock, FakeWorld
from tests.releases.sandbox_helpers import Operator

DIGEST = "sha256:" + "0f" * 32
REFUSED = [
    "2.0 beta",
    "$(id)",
    "latest",
    "9" * 300,
    "x/../../evil",
    "",
    "-rc",
    ".hidden",
    "2.0.0\n",
    f"2.0.0@{DIGEST[:-1]}",
    "2.0.0@sha256:" + "AB" * 32,
]


@pytest.mark.parametrize("version", REFUSED)
def test_versions_outside_the_rule_are_refused(version: str) -> None:
    with pytest.raises(BadInput, match=r"--version must be a container image tag: .* not 'latest'"):
        check_version(version)


@pytest.mark.parametrize(
    ("version", "parsed"),
    [
        ("2.0.0", ("2.0.0", None)),
        ("v2_rc.1-x", ("v2_rc.1-x", None)),
        ("a" * 128, ("a" * 128, None)),
        (f"2.0.0@{DIGEST}", ("2.0.0", DIGEST)),
        ("latest-1", ("latest-1", None)),
    ],
)
def test_versions_inside_the_rule_give_their_tag_and_digest(
    version: str, parsed: tuple[str, str | None]
) -> None:
    assert check_version(version) == parsed


@pytest.mark.parametrize("version", ["x/../../evil", "latest"])
def test_the_engine_checks_the_rule_for_every_environment(tmp_path: Path, version: str) -> None:
    world, clock = FakeWorld(), FakeClock()
    journal = Journal(tmp_path / "journal.sqlite", "tester")
    for environment in ("staging", "production"):
        engine = Engine(
            environment, "web", world.targets, EnvironmentSettings(), journal, clock=clock, sleep=clock.sleep
        )
        with pytest.raises(BadInput, match="--version must be a container image tag"):
            engine.auto(version)
    assert world.slots.deploys == [] and world.router.writes == []


@pytest.mark.parametrize("version", ["2.0 beta", "$(id)", "latest", "9" * 300, "x/../../evil", ""])
def test_release_exits_2_naming_the_rule(tmp_path: Path, version: str) -> None:
    result = Operator(tmp_path / "state").run("release", "--percent", "10", "--version", version)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "bad input: --version must be a container image tag: 1 to 128 letters" in result.stderr
    assert repr(version) in result.stderr
