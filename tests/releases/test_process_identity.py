"""Process identity that a wall-clock step cannot fool."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from releases import process_identity
from releases.process_identity import ProcessIdentity, boot_id, current, identity_of, is_running


def test_this_process_is_running_and_a_stranger_reusing_its_pid_is_not() -> None:
    me = current()
    assert is_running(me)
    assert not is_running(ProcessIdentity(me.pid, me.boot_id, me.start_ticks + 1))  # a later process
    assert not is_running(ProcessIdentity(me.pid, "another-boot", me.start_ticks))


def test_a_wall_clock_step_does_not_make_live_processes_look_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """psutil derives start times from the wall clock; a correction of a few seconds used to make
    every recorded process a stranger (and let a live holder's lock be taken over)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        recorded = identity_of(child.pid)
        assert recorded is not None
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 5.0)
        real_boot = psutil.boot_time
        monkeypatch.setattr(psutil, "boot_time", lambda: real_boot() + 5.0)
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: 0.0)
        assert is_running(recorded)
    finally:
        child.kill()
        child.wait()
    assert not is_running(recorded)  # exited (and reaped): gone


def test_a_zombie_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    recorded = identity_of(child.pid)
    deadline = time.monotonic() + 10
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not is_running(recorded or ProcessIdentity(child.pid, boot_id(), 0))
    child.wait()


def test_the_boot_id_names_this_boot() -> None:
    process_identity.boot_id.cache_clear()
    assert boot_id() == process_identity.PROC.joinpath("sys/kernel/random/boot_id").read_text().strip()
