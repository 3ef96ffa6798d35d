"""The deployment log: one markdown page per finished release, from the journal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from releases import controls
from releases.controls import Control
from releases.deployment_log import render
from releases.engine import Engine
from releases.errors import GateFailed
from releases.journal import EventKind, Journal, Note
from releases.model import Pool
from releases.release_log import ReleaseLog
from tests.releases.fakes import FakeClock, FakeWorld
from tests.releases.test_engine import BAD, SETTINGS
from tests.releases.test_engine_controls import SETTINGS as CONTROLLED
from tests.releases.test_engine_controls import ScriptedClock
from tests.releases.test_notify import Recorder
from tests.state_stores import twin


def engine_for(world: FakeWorld, journal: Journal, reports: Path, failure: str | None = None) -> Engine:
    clock = FakeClock()
    return Engine(
        "staging",
        "web",
        world.targets,
        SETTINGS,
        journal,
        clock=clock,
        sleep=clock.sleep,
        notifier=Recorder(failure),
        reports_dir=reports,
    )


def test_a_promoted_release_gets_its_page(journal: Journal, tmp_path: Path) -> None:
    engine = engine_for(FakeWorld(), journal, tmp_path / "reports")
    engine.release(10, "2.0.0")
    assert not (tmp_path / "reports").exists()  # in flight: no page yet
    engine.release(100)

    (page,) = (tmp_path / "reports").iterdir()
    text = page.read_text()
    assert page.name == f"{text.split('`')[1]}-staging-web-2.0.0.md"  # the release id first
    assert text.startswith("# staging/web 2.0.0: promoted\n")
    assert "- Version: 2.0.0 (replacing 1.0.0)" in text and "- Operator: alice" in text
    for step in (
        "deploy 2.0.0 to the staging slot",
        "swap slots: production 1.0.0 -> 2.0.0, then at once weights stable=0.9 canary=0.1 -> "
        "stable=1 canary=0",
    ):
        assert f"| started | {step} |" in text and f"| done | {step} |" in text
    # Gate figures: the fakes' clean traffic, 1,000 requests a second, no errors, all at 50 ms
    # (the p95 interpolated in its bucket, as histogram_quantile does: 47.5 ms).
    assert "| bake at 10% | pass | 30000 | 0.00% | 48 ms |" in text
    assert "| verify at production | pass | 20000 | 0.00% | 48 ms |" in text
    assert "Announcements not delivered" not in text


def test_a_rolled_back_release_says_why_and_what_the_team_missed(journal: Journal, tmp_path: Path) -> None:
    world = FakeWorld()
    world.metrics.samples[Pool.CANARY] = BAD
    engine = engine_for(world, journal, tmp_path / "reports", failure="the webhook answered HTTP 503")
    with pytest.raises(GateFailed):
        engine.release(10, "2.0.0")

    (page,) = (tmp_path / "reports").iterdir()
    text = page.read_text()
    assert text.startswith("# staging/web 2.0.0: rolled back from 10%\n")
    assert "| bake at 10% | fail | 10000 | 20.00% |" in text
    assert "error rate 20.00% is over 1.00%" in text
    assert "## Announcements not delivered" in text
    assert "gate on canary 10%: the webhook answered HTTP 503" in text


def test_a_release_pinned_by_digest_names_its_image(journal: Journal) -> None:
    """What the engine journals for a release by digest (a `note` event `image`, through the
    existing `journal.record` detail fields) is on its page: which exact image ran."""
    record = journal.start_release("staging", "web", "2.0.0", "1.0.0")
    image = "ghcr.io/example/platform-web:2.0.0@sha256:" + "ab" * 32
    journal.record("staging", "web", EventKind.NOTE, Note.IMAGE, record.id, image=image)
    text = render(ReleaseLog.read(journal, record))
    assert f"- Image: `{image}` (pinned by digest)" in text


def test_the_page_says_who_paused_resumed_and_promoted_and_why(journal: Journal, tmp_path: Path) -> None:
    bob = Journal(twin(journal.store), operator="bob")

    def control(what: Control, reason: str, full: bool = False) -> Callable[[], None]:
        def journal_it() -> None:
            controls.request(bob, "staging", "web", what, reason, full)

        return journal_it

    clock = ScriptedClock(
        {
            20: control(Control.PAUSE, "graph looks odd"),
            40: control(Control.RESUME, "fine"),
            50: control(Control.PROMOTE, "hotfix", full=True),
        }
    )
    engine = Engine(
        "staging",
        "web",
        FakeWorld().targets,
        CONTROLLED,
        journal,
        clock=clock,
        sleep=clock.sleep,
        reports_dir=tmp_path / "reports",
    )
    engine.auto("2.0.0")
    (page,) = (tmp_path / "reports").iterdir()
    text = page.read_text()
    assert "## Operator controls and holds" in text
    for row in (
        "| pause requested | bob | graph looks odd |",
        "| held (paused) | bob | graph looks odd |",
        "| resume requested | bob | fine |",
        "| resumed (paused) | bob | fine |",
        "| promote requested --full | bob | hotfix |",
        "| steps skipped: 50% | bob | hotfix |",
        "inconclusive (bake ended by promote --full by bob (hotfix))",
    ):
        assert row in text, (row, text)
