"""The journal: a release's record and its events, holds and outcomes, and fenced writes that a
displaced lock holder cannot make. Each test runs against a SQLite file and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from releases.errors import JournalUnavailable, Superseded
from releases.journal import EventKind, Journal, Note
from releases.lock import ReleaseLock
from releases.model import HoldReason, Outcome
from tests.state_stores import twin


@pytest.fixture
def journal(state_url: str) -> Journal:
    return Journal(state_url, operator="alice")


def test_a_release_is_recorded_with_its_start_note_and_found_again(journal: Journal) -> None:
    first = journal.start_release("sandbox", "web", "2.0.0", "1.0.0", reason="fix checkout")
    journal.finish(first, Outcome.PROMOTED)
    second = journal.start_release("sandbox", "web", "2.1.0", "2.0.0")
    journal.start_release("sandbox", "api", "9.0.0", "8.0.0")

    latest = journal.latest_release("sandbox", "web")
    assert latest is not None and latest.id == second.id and latest.in_flight
    found = journal.release(first.id)
    assert found is not None and found.outcome == Outcome.PROMOTED and found.reason == "fix checkout"
    assert {r.version for r in journal.releases("sandbox", "web")} == {"2.0.0", "2.1.0"}
    (started,) = [e for e in journal.events(first.id) if e.action == Note.RELEASE_STARTED]
    assert started.kind == EventKind.NOTE and started.operator == "alice"
    assert started.detail == {
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "migration": None,
        "reason": "fix checkout",
    }


def test_a_hold_is_kept_with_its_figures_until_resumed_or_finished(journal: Journal) -> None:
    record = journal.start_release("sandbox", "web", "2.0.0", "1.0.0")
    journal.set_percent(record, 10)
    journal.hold(record, HoldReason.GATE_INCONCLUSIVE, "32 requests", requests=32)
    stored = journal.release(record.id)
    assert stored is not None and stored.hold == HoldReason.GATE_INCONCLUSIVE and stored.last_percent == 10
    (held,) = [e for e in journal.events(record.id) if e.action == Note.HELD]
    assert held.detail == {"hold": "gate inconclusive", "detail": "32 requests", "requests": 32}

    journal.resume(record)
    stored = journal.release(record.id)
    assert stored is not None and stored.hold is None and stored.hold_detail is None

    journal.hold(record, HoldReason.GATE_INCONCLUSIVE, "again")
    journal.finish(record, Outcome.ROLLED_BACK)
    stored = journal.release(record.id)
    assert stored is not None and stored.outcome == Outcome.ROLLED_BACK and stored.hold is None
    assert stored.finished_at is not None and not stored.in_flight


def test_tearing_down_an_environment_abandons_only_its_unfinished_releases(journal: Journal) -> None:
    done = journal.start_release("sandbox", "web", "2.0.0", "1.0.0")
    journal.finish(done, Outcome.PROMOTED)
    open_web = journal.start_release("sandbox", "web", "2.1.0", "2.0.0")
    elsewhere = journal.start_release("staging", "web", "2.1.0", "2.0.0")
    assert journal.abandon_in_flight("sandbox") == 1
    outcomes = {r.id: r.outcome for r in journal.releases()}
    assert outcomes == {done.id: Outcome.PROMOTED, open_web.id: Outcome.ABANDONED, elsewhere.id: None}


def test_writes_carry_the_holders_token_and_stop_once_it_is_displaced(journal: Journal) -> None:
    with ReleaseLock(journal, "sandbox", "web", 30) as held:
        token = held.token
        record = journal.start_release("sandbox", "web", "2.0.0", "1.0.0")
        rescuer = ReleaseLock(Journal(twin(journal.store), "bob"), "sandbox", "web", 30, takeover=True)
        rescuer.acquire()
        with pytest.raises(Superseded, match=f"token {token}.* no longer current"):
            journal.set_percent(record, 50)
        with pytest.raises(Superseded):
            journal.check_fence()
        rescuer.release()
    stored = journal.release(record.id)
    assert stored is not None and stored.last_percent is None  # the displaced write changed nothing
    tokens = {e.action: e.token for e in journal.events(record.id)}
    assert token is not None and tokens[Note.RELEASE_STARTED] == token


def test_a_failed_write_whose_fence_cannot_be_read_either_reports_the_write(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed fenced write asks whether the lock was taken over; when that read fails too, the
    write's own error (which may name a stopped holder of the journal) is the one reported."""
    with ReleaseLock(journal, "sandbox", "web", lease_seconds=60):

        def failing(what: str) -> Any:
            @contextmanager
            def transaction() -> Iterator[None]:
                raise JournalUnavailable(what)
                yield

            return transaction

        monkeypatch.setattr(journal.store, "write", failing("the write's cause"))
        monkeypatch.setattr(journal.store, "read", failing("the fence's read"))
        with pytest.raises(JournalUnavailable, match="the write's cause"):
            journal.record("sandbox", "web", EventKind.NOTE, "lost")
        monkeypatch.undo()
