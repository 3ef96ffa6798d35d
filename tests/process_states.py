"""Waiting for a process the test stopped (SIGSTOP, or SIGTSTP) to be stopped in every thread."""

from __future__ import annotations

import time
from pathlib import Path


def all_threads_stopped(pid: int) -> bool:
    """True once every thread of `pid` is in state T: a stop signal reaches the threads one by
    one, and a thread still running may still be writing."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rpartition(")")[2].split()[0])
        except OSError:  # the thread ended meanwhile
            continue
    return bool(states) and all(state == "T" for state in states)


def wait_until_stopped(pid: int, timeout: float = 30) -> None:
    """Until `all_threads_stopped(pid)`; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not all_threads_stopped(pid):
        if time.monotonic() >= deadline or not Path(f"/proc/{pid}").exists():
            raise AssertionError(f"process {pid} never stopped")
        time.sleep(0.05)
