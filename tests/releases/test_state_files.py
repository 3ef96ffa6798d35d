"""The state directory at rest: 0700 directories, 0600 files (journal, its WAL, deployment logs)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from releases import deployment_log
from releases.journal import Journal
from releases.model import Outcome
from releases.settings import load_release_settings


def modes(root: Path) -> dict[str, str]:
    """Every entry under `root` (and root itself) with its permission bits, as `ls` shows them."""
    entries = [root, *root.rglob("*")]
    return {str(path.relative_to(root.parent)): stat.filemode(path.lstat().st_mode) for path in entries}


def assert_private(root: Path) -> None:
    for name, mode in modes(root).items():
        if mode.startswith("d"):
            assert mode == "drwx------", name
        elif mode.startswith("s"):
            assert mode == "srw-------", name
        else:
            assert mode == "-rw-------", name


@pytest.fixture(autouse=True)
def _no_state_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_STATE_DIR", raising=False)


def test_the_journal_and_the_deployment_logs_are_private(tmp_path: Path) -> None:
    settings = load_release_settings({"state_dir": "state"}, tmp_path)
    journal = Journal(settings.journal_path, operator="alice")
    record = journal.start_release("sandbox", "web", "2.0.0", "1.0.0")
    journal.finish(record, Outcome.PROMOTED)
    written = deployment_log.write(journal, record, settings.reports_dir)

    assert written.exists() and (settings.state_dir / "journal.sqlite-wal").exists()
    assert_private(settings.state_dir)


def test_a_state_directory_left_readable_is_tightened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "journal.sqlite").touch(mode=0o644)
    (state / "journal.sqlite-wal").touch(mode=0o644)
    state.chmod(0o755)

    load_release_settings({"state_dir": "state"}, tmp_path)

    assert_private(state)
