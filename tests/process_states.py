"""Children the tests start and stop (SIGSTOP, or SIGTSTP): started, waited for until stopped in
every thread, and killed if still there when the test ends."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def child_process(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """`argv` with its standard output readable as text; killed (by its pid) if it still runs
    when the block ends."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **popen)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


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
