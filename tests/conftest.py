"""Shared fixtures. Nothing runs at import: plans are built on first use, once per test process."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.offline import Plan

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS = ("staging", "production")


@functools.cache
def _plan(stack: str) -> Plan:
    from infra.offline import run_offline
    from infra.program import build

    return run_offline(PROJECT_DIR, stack, build)


@pytest.fixture
def plan_of() -> Callable[[str], Plan]:
    """The offline plan of a committed stack file (built under Pulumi's mocks)."""
    return _plan


@pytest.fixture(params=STACKS)
def plan(request: pytest.FixtureRequest) -> Plan:
    """Each stack's plan in turn: a test using it runs once per stack."""
    return _plan(request.param)


# State stores (SQLite, and a real PostgreSQL per session): fixtures for every test module.
from tests.state_stores import postgres_cluster, postgres_url, state_url  # noqa: E402, F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a PostgreSQL server is end to end, whichever module it is in."""
    for item in items:
        if "postgres_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
