"""The state directory at rest: directories 0700, files 0600.

The journal, the deployment logs, the rehearsal report and the sandbox's files hold operational
data (who released what, gate figures, topology, process logs, the secret store), so nothing
under the state directory is readable by other local users. Every place that creates a file or a
directory under it goes through these helpers; processes the sandbox starts run with umask 077
(releases/sandbox/processes.py), so what they create is private too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077
# SQLite creates these beside a database, with the database file's own permissions.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """`path` as a directory only its owner can enter (created with its parents if missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    path.chmod(DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read, created empty if missing (SQLite takes an empty
    file as a new database, and gives its WAL and shared-memory files the database's mode)."""
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(descriptor)
    path.chmod(FILE_MODE)
    for suffix in _SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).chmod(FILE_MODE)
    return path


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path`, created 0600 (process logs)."""
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return descriptor


def open_private(path: Path, newline: str | None = None) -> TextIO:
    """`path` opened for writing text from the start, created (or truncated) with mode 0600."""
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, "w", newline=newline)


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path`, mode 0600, atomically: a reader sees the old file or the new one."""
    private_directory(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def secure_state_directory(state_dir: Path, journal: Path) -> None:
    """The state directory 0700 and the journal 0600, created so before anything is written (and
    tightened where an older version left them 0755 and 0644)."""
    private_directory(state_dir)
    if journal.parent == state_dir or state_dir in journal.parents:
        private_file(journal)
