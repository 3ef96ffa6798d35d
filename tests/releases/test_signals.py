"""Signals against journal writes: a write transaction is never cut in the middle; SIGINT and
SIGTERM are acted on once it has committed (and, while an interruption is being journaled, not
at all), and Ctrl-Z stops the process only then."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from releases import signals
from releases.errors import Terminated
from releases.journal import EventKind, Journal
from releases.state.schema import events
from tests.process_states import child_process, wait_until_stopped


def notes(journal: Journal) -> int:
    with journal.store.read() as connection:
        return connection.execute(select(func.count()).select_from(events)).scalar_one()


def write_two_notes_with_a_signal_between(journal: Journal, signum: signal.Signals) -> None:
    with journal.transaction() as connection:
        journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "first", None, {})
        os.kill(os.getpid(), signum)  # delivered at once, in the middle of the transaction
        journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "second", None, {})


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_a_signal_inside_a_write_is_acted_on_once_it_committed(
    journal: Journal, signum: signal.Signals, raised: type[BaseException]
) -> None:
    with signals.interruptible(), pytest.raises(raised):
        write_two_notes_with_a_signal_between(journal, signum)
    assert notes(journal) == 2  # both written: the transaction was not cut short
    journal.record("sandbox", "web", EventKind.NOTE, "after")  # and nothing holds the write lock
    assert notes(journal) == 3


def test_while_an_interruption_is_journaled_further_signals_are_ignored(journal: Journal) -> None:
    with signals.interruptible(), signals.deferred():
        write_two_notes_with_a_signal_between(journal, signal.SIGINT)
    assert notes(journal) == 2


def test_inside_a_postponed_block_a_write_leaves_the_signal_to_the_block(journal: Journal) -> None:
    reached_the_end_of_the_block = False
    with signals.interruptible(), pytest.raises(KeyboardInterrupt), signals.postponed():
        write_two_notes_with_a_signal_between(journal, signal.SIGINT)
        reached_the_end_of_the_block = True
    assert reached_the_end_of_the_block and notes(journal) == 2


CTRL_Z_IN_A_WRITE = """
import os, signal, sys
from pathlib import Path
from releases import signals
from releases.journal import EventKind, Journal

journal = Journal(Path(sys.argv[1]), operator="alice")
journal.record("sandbox", "web", EventKind.NOTE, "schema ready")
with signals.interruptible(), journal.transaction() as connection:
    journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "first", None, {})
    os.kill(os.getpid(), signal.SIGTSTP)  # Ctrl-Z, in the middle of the transaction
    journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "second", None, {})
print("resumed", flush=True)
"""


# The same while an interruption is journaled (SIGINT and SIGTERM ignored, Ctrl-Z still held).
CTRL_Z_IN_A_DEFERRED_WRITE = CTRL_Z_IN_A_WRITE.replace(
    "with signals.interruptible(), journal.transaction()",
    "with signals.interruptible(), signals.deferred(), journal.transaction()",
)


def ctrl_z_child(script: str, path: Path) -> AbstractContextManager[subprocess.Popen[str]]:
    """`script` in a process group of its own within this session: in an orphaned group (pytest
    started by setsid, as some CI runners do) the kernel would discard the child's SIGTSTP."""
    return child_process([sys.executable, "-c", script, str(path)], process_group=0)


CTRL_Z_DURING_A_THREADS_WRITE = """
import os, signal, sys, threading, time
from pathlib import Path
from releases import signals
from releases.journal import EventKind, Journal

journal = Journal(Path(sys.argv[1]), operator="alice")
journal.record("sandbox", "web", EventKind.NOTE, "schema ready")
writing = threading.Event()


def heartbeat_like_write() -> None:
    with journal.transaction() as connection:
        journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "first", None, {})
        writing.set()
        time.sleep(1)
        journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "second", None, {})


with signals.interruptible():
    thread = threading.Thread(target=heartbeat_like_write)
    thread.start()
    writing.wait()
    os.kill(os.getpid(), signal.SIGTSTP)  # Ctrl-Z while another thread is in the middle of a write
    thread.join()
print("resumed", flush=True)
"""


@pytest.mark.parametrize(
    "script",
    [CTRL_Z_IN_A_WRITE, CTRL_Z_IN_A_DEFERRED_WRITE, CTRL_Z_DURING_A_THREADS_WRITE],
    ids=["in-the-main-thread", "while-an-interruption-is-journaled", "in-another-thread"],
)
def test_ctrl_z_during_a_write_stops_the_process_only_once_it_committed(tmp_path: Path, script: str) -> None:
    """Stopped inside the transaction, it would hold SQLite's write lock until resumed: every
    other command, a rollback too, waited for it and failed after the busy timeout. The lease
    heartbeat writes from its own thread, where no signal handler runs."""
    path = tmp_path / "journal.sqlite"
    with ctrl_z_child(script, path) as child:
        wait_until_stopped(child.pid)
        with sqlite3.connect(path, timeout=1, isolation_level=None) as connection:
            connection.execute("BEGIN IMMEDIATE")  # the write lock is free while it is stopped
            connection.execute("ROLLBACK")
            count = connection.execute("SELECT count(*) FROM events WHERE action IN ('first', 'second')")
            assert count.fetchone() == (2,)  # committed before it stopped
        psutil.Process(child.pid).resume()
        stdout, _ = child.communicate(timeout=30)
    assert child.returncode == 0 and stdout == "resumed\n"


def test_ctrl_c_pressed_a_few_times_in_a_row_never_gives_up_on_the_store(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Only a signal that comes after the operator was told what the block waits for abandons it:
    a burst of Ctrl-C during a write that is merely slow must not give up on a store that answers."""
    monkeypatch.setattr(signals, "NOTICE_AFTER_SECONDS", 0.2)
    given_up: list[str] = []
    with (
        signals.interruptible(),
        pytest.raises(KeyboardInterrupt),
        signals.postponed(abandon=lambda: given_up.append("now")),
    ):
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGINT)
        assert given_up == []
        postponing = signal.getsignal(signal.SIGINT)
        waited = time.monotonic()
        while not getattr(postponing, "_told", False) and time.monotonic() - waited < 10:
            time.sleep(0.01)  # the write goes on past the notice
        os.kill(os.getpid(), signal.SIGINT)
        assert given_up == ["now"]
    told = capfd.readouterr().err
    assert told.startswith("SIGINT: waiting for the state store to answer first")
    assert told.endswith("SIGINT again: giving up on the state store.\n")
