"""Fixtures the release engine's tests share: the fake world the engine drives and a journal.

`journal` is a SQLite file; the modules about the store itself (journal, lock, fencing) override
it with one on each store, SQLite and PostgreSQL (`state_url`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from releases.journal import Journal
from tests.releases.fakes import FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite", operator="alice")
