"""The cloud adapters' retry policy and request budget."""

from __future__ import annotations

import email.utils
import time

import pytest

from releases.state.store import StateStore
from releases.targets.clients.retrying import (
    Blocked,
    RequestBudget,
    RetryPolicy,
    SharedRequestBudget,
    budget_scope,
    call,
    rate_limited,
    retry_after_seconds,
)

POLICY = RetryPolicy(timeout_seconds=5, max_retry_after_seconds=3)


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (retry_after_seconds({"retry-after": in_a_minute}) or 0) <= 60
    assert retry_after_seconds({}) is None and retry_after_seconds({"Retry-After": "soon"}) is None


def test_a_short_retry_after_is_waited_a_long_one_stops() -> None:
    assert rate_limited(2, POLICY, "api") == 2
    assert rate_limited(None, POLICY, "api") is True
    with pytest.raises(Blocked, match=r"api: rate-limited with Retry-After 600 s, longer than the 3 s"):
        rate_limited(600, POLICY, "api")


def test_call_retries_only_what_the_classifier_calls_transient() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("reset")
        return "done"

    assert call(flaky, lambda error: 0.01 if isinstance(error, ConnectionError) else False, POLICY) == "done"
    assert len(attempts) == 3
    with pytest.raises(ValueError, match="bad request"):
        call(lambda: (_ for _ in ()).throw(ValueError("bad request")), lambda error: False, POLICY)


def test_the_budget_refuses_past_its_limit_until_the_window_moves_on() -> None:
    now = [0.0]
    budget = RequestBudget(limit=3, window_seconds=300, clock=lambda: now[0])
    for _ in range(3):
        budget.spend("Cloudflare")
    with pytest.raises(Blocked, match="budget of 3 requests per 300 s"):
        budget.spend("Cloudflare")
    now[0] = 300.5
    budget.spend("Cloudflare")
    assert budget.used == 1


def test_the_shared_budget_is_one_budget_for_every_process_using_the_store(state_url: str) -> None:
    """Two processes (two stores opened on one URL) spend from one budget per token: together
    they are refused at the limit, and another token has a budget of its own."""
    scope = budget_scope("cloudflare", "token-a")
    laptop = SharedRequestBudget(StateStore(state_url), scope, limit=5)
    runner = SharedRequestBudget(StateStore(state_url), scope, limit=5)
    for budget in (laptop, runner, laptop, runner, laptop):
        budget.spend("Cloudflare")
    with pytest.raises(Blocked, match="the commands sharing the state store have used the budget of 5"):
        runner.spend("Cloudflare")
    assert laptop.used == runner.used == 5  # the refused request was not counted
    SharedRequestBudget(StateStore(state_url), budget_scope("cloudflare", "token-b"), limit=5).spend("x")
    assert "token-a" not in scope
