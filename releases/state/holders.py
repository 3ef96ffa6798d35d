"""Which process holds the SQLite journal's write lock, read from /proc/locks.

A write that waited past the busy timeout is reported with the process it waited for. The case
that matters is a holder that is stopped (SIGSTOP, a debugger, a frozen container): it keeps the
lock until someone resumes it, and the message says how to do that."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

# In WAL mode a writer holds a POSIX write lock on byte 120 of the `-shm` file (SQLite's
# WAL_WRITE_LOCK: WALINDEX_LOCK_OFFSET 120 plus lock 0, src/wal.c).
WAL_WRITE_LOCK_BYTE = "120"


def write_lock_holders(database: Path) -> list[int]:
    """The pids that hold the write lock of the SQLite database at `database` (WAL mode)."""
    try:
        index = database.with_name(f"{database.name}-shm").stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:  # no index file (nobody writing) or no /proc
        return []
    # /proc/locks names a file by its device (major:minor, in hex) and inode.
    key = f"{os.major(index.st_dev):02x}:{os.minor(index.st_dev):02x}:{index.st_ino}"
    holders = []
    for line in lines:
        # "25: POSIX  ADVISORY  WRITE 17099 fe:00:2146526 120 120"; a waiter's line has "->" after
        # the number, and is not a holder.
        fields = line.split()
        if fields[1:4] == ["POSIX", "ADVISORY", "WRITE"] and fields[5:7] == [key, WAL_WRITE_LOCK_BYTE]:
            pid = int(fields[4])
            if pid > 0:  # 0: a holder in another pid namespace, which cannot be named from here
                holders.append(pid)
    return holders


def describe_holders(database: Path) -> str:
    """ "; pid N (name) holds it" for each holder but this process, with what to do about a
    stopped one; empty when none is found."""
    parts = []
    for pid in write_lock_holders(database):
        if pid == os.getpid():
            continue
        try:
            process = psutil.Process(pid)
            name, status = process.name(), process.status()
        except psutil.Error:
            continue
        if status == psutil.STATUS_STOPPED:
            parts.append(
                f"pid {pid} ({name}) holds it and is stopped: `kill -CONT {pid}` lets it finish its write"
            )
        else:
            parts.append(f"pid {pid} ({name}) holds it")
    return "".join(f"; {part}" for part in parts)
