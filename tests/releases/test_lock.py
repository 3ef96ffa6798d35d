"""The release lock: fencing tokens that only grow, takeover, stale leases on the store's clock. Each
test runs against a SQLite file and against a real PostgreSQL database."""

from __future__ import annotations

import os
import threading
import time

import pytest

from releases import lock as lock_module
from releases.errors import JournalUnavailable, Refused, Superseded
from releases.journal import EventKind, Journal
from releases.lock import ReleaseLock, current_holder
from releases.process_identity import ProcessIdentity, boot_id, identity_of
from releases.state import store as store_module
from tests.state_stores import twin, upgraded


@pytest.fixture
def journal(state_url: str) -> Journal:
    return Journal(state_url, operator="alice")


def other_lock(journal: Journal, takeover: bool = False, lease: float = 30) -> ReleaseLock:
    """A lock held by another live process on this machine (the test runner's parent)."""
    lock = ReleaseLock(Journal(twin(journal.store), operator="bob"), "sandbox", "web", lease, takeover)
    parent = identity_of(os.getppid())
    assert parent is not None
    lock.process = parent
    return lock


def test_tokens_only_grow_across_acquisitions_and_releases(journal: Journal) -> None:
    tokens = []
    for _ in range(3):
        with ReleaseLock(journal, "sandbox", "web", 30) as lock:
            tokens.append(lock.token)
    assert tokens == [1, 2, 3]
    assert current_holder(journal, "sandbox", "web") is None
    with ReleaseLock(journal, "sandbox", "api", 30) as lock:
        assert lock.token == 1  # one counter per environment and service


def test_a_live_holder_is_refused_unless_taken_over(journal: Journal) -> None:
    holder = other_lock(journal)
    holder.acquire()
    with pytest.raises(Refused, match=r"lock held by bob .*token 1.*`invoke rollback` to take over"):
        ReleaseLock(journal, "sandbox", "web", 30).acquire()
    rollback = ReleaseLock(journal, "sandbox", "web", 30, takeover=True)
    rollback.acquire()
    assert rollback.token == 2 and rollback.previous is not None and rollback.previous.owner == "bob"
    with pytest.raises(Superseded, match=r"\(token 1\) is no longer current: alice on .* holds token 2"):
        holder.journal.record("sandbox", "web", EventKind.NOTE, "too late")
    holder.release()  # the displaced holder lets go of nothing
    holder_now = current_holder(journal, "sandbox", "web")
    assert holder_now is not None and holder_now.token == 2


def test_a_lease_is_judged_on_the_journal_clock_not_the_wall_clock(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second operator whose clock is an hour ahead does not see a live lease as expired."""
    holder = other_lock(journal, lease=30)
    holder.acquire()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    with pytest.raises(Refused, match="lock held by bob"):
        ReleaseLock(journal, "sandbox", "web", 30).acquire()


def test_an_expired_lease_or_a_dead_holder_is_taken_without_a_takeover(journal: Journal) -> None:
    expired = other_lock(journal, lease=0.05)
    expired.acquire()
    time.sleep(0.1)
    with ReleaseLock(journal, "sandbox", "web", 30) as lock:
        assert lock.token == 2 and lock.previous is None
    dead = ReleaseLock(Journal(twin(journal.store), "carol"), "sandbox", "web", 600)
    dead.process = ProcessIdentity(2**22 + 7, boot_id(), 1.0)
    dead.acquire()
    with ReleaseLock(journal, "sandbox", "web", 30) as lock:
        assert lock.token == 4


def test_the_heartbeat_renews_the_lease_between_writes(journal: Journal) -> None:
    with ReleaseLock(journal, "sandbox", "web", 0.6):
        first = current_holder(journal, "sandbox", "web")
        time.sleep(0.5)
        later = current_holder(journal, "sandbox", "web")
        assert first is not None and later is not None and later.expires_at > first.expires_at
        assert not later.is_stale()


def test_on_postgresql_the_server_clock_judges_a_client_whose_clocks_are_off(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second machine whose wall clock and boot clock are both an hour ahead still sees the live
    lease: the lease was written, and is read, on the database server's clock alone."""
    journal = Journal(upgraded(postgres_url), operator="alice")
    holder = other_lock(journal, lease=30)
    holder.acquire()
    real_time, real_clock = time.time, store_module.local_clock
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    monkeypatch.setattr(store_module, "local_clock", lambda: (real_clock()[0], real_clock()[1] + 3600))
    monkeypatch.setattr(lock_module, "host_name", lambda: "laptop-ahead")  # another machine
    with pytest.raises(Refused, match=r"lock held by bob on .*lease (29|30) s left"):
        ReleaseLock(journal, "sandbox", "web", 30).acquire()


def test_a_holder_on_another_host_is_judged_by_its_lease_alone(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This machine cannot see another machine's processes: a pid that does not run here says
    nothing about a holder recorded under another host name, until its lease runs out."""
    monkeypatch.setenv(lock_module.HOST_NAME_VARIABLE, "laptop-a")
    elsewhere = ReleaseLock(Journal(twin(journal.store), "bob"), "sandbox", "web", 0.5)
    elsewhere.process = ProcessIdentity(2**22 + 9, boot_id(), 1.0)  # no such process here
    elsewhere.acquire()
    monkeypatch.setenv(lock_module.HOST_NAME_VARIABLE, "laptop-b")
    with pytest.raises(Refused, match="lock held by bob on laptop-a"):
        ReleaseLock(journal, "sandbox", "web", 30).acquire()
    time.sleep(0.6)
    with ReleaseLock(journal, "sandbox", "web", 30) as lock:
        assert lock.token == 2 and lock.previous is None  # expired: taken, not taken over


def test_two_first_acquisitions_at_once_give_one_holder_and_one_refusal(journal: Journal) -> None:
    """No lease row yet, two processes acquiring at the same moment: one holds token 1, the other is
    refused naming it (not a database error)."""
    ours = ReleaseLock(journal, "sandbox", "fresh", 30)
    theirs = other_lock(journal)
    theirs.service = "fresh"
    for lock in (ours, theirs):
        lock.journal.store.check_schema()  # the store exists: the race is for the lease row
    start = threading.Barrier(2)
    outcomes: dict[str, BaseException | int | None] = {}

    def acquire(name: str, lock: ReleaseLock) -> None:
        start.wait()
        try:
            lock.acquire()
            outcomes[name] = lock.token
        except (Refused, JournalUnavailable) as error:
            outcomes[name] = error

    threads = [threading.Thread(target=acquire, args=item) for item in (("ours", ours), ("theirs", theirs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values(), key=lambda value: isinstance(value, int))[1] == 1, outcomes
    refused = [value for value in outcomes.values() if isinstance(value, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], Refused), outcomes
