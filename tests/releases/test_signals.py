"""Signals against journal writes: a write transaction is never cut in the middle; SIGINT and
SIGTERM are acted on once it has committed (and, while an interruption is being journaled, not
at all)."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select

from releases import signals
from releases.errors import Terminated
from releases.journal import EventKind, Journal
from releases.state.schema import events


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
