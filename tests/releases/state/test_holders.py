"""The SQLite journal's write lock holder, as a write that waited past the busy timeout names it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from releases.errors import JournalUnavailable
from releases.journal import EventKind, Journal
from releases.state import store as store_module
from releases.state.holders import describe_holders, write_lock_holders
from tests.process_states import child_process, wait_until_stopped

# A writer stopped in the middle of its transaction, as SIGSTOP (or a debugger) leaves one.
STOPPED_WRITER = """
import os, signal, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("DELETE FROM events")
os.kill(os.getpid(), signal.SIGSTOP)
"""


@pytest.fixture
def stopped_writer(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "journal.sqlite"
    Journal(path, operator="alice").record("sandbox", "web", EventKind.NOTE, "schema ready")
    with child_process([sys.executable, "-c", STOPPED_WRITER, str(path)]) as child:
        wait_until_stopped(child.pid)
        yield path, child.pid


def test_the_stopped_writer_is_found_by_its_lock(stopped_writer: tuple[Path, int]) -> None:
    path, pid = stopped_writer
    assert write_lock_holders(path) == [pid]
    name = psutil.Process(pid).name()
    assert describe_holders(path) == (
        f"; pid {pid} ({name}) holds it and is stopped: `kill -CONT {pid}` lets it finish its write"
    )


def test_a_write_that_waited_for_it_names_it_and_what_to_do(
    stopped_writer: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, pid = stopped_writer
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 0.5)
    journal = Journal(path, operator="bob")
    named = rf"pid {pid} \(.*\) holds it and is stopped: `kill -CONT {pid}`"
    with pytest.raises(JournalUnavailable, match=named):
        journal.record("sandbox", "web", EventKind.NOTE, "blocked")


def test_nobody_holds_a_journal_nobody_writes(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path, operator="alice").record("sandbox", "web", EventKind.NOTE, "written and committed")
    assert write_lock_holders(path) == [] and describe_holders(path) == ""
