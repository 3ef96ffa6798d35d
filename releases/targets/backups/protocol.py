"""What a migration asks of a database before it runs: an on-demand, verified backup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Backup:
    """An on-demand backup, taken and verified before a migration runs."""

    location: str  # a file, or the backup's name on the server
    size_bytes: int | None
    verification: str  # what was checked, in words, for the journal and the report
    restore_procedure: str  # what an operator runs to put the database back as it was


class Database(Protocol):
    def backup(self, name: str, timeout: float) -> Backup:
        """Take an on-demand backup named `name`, wait for it and verify it. Raises `Refused` when
        it cannot be taken or does not verify (nothing has migrated yet)."""
        ...
