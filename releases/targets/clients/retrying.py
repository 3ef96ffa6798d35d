"""How the cloud adapters retry: transient failures with backoff, 429 for as long as the server
asks (within limits), everything else at once to the operator.

Every SDK's own retries are turned off so that this one policy decides, with stamina doing the
waiting: a `Retry-After` longer than `max_retry_after_seconds` means the account is blocked for
minutes, and hammering it would only extend the block, so the call stops and says so.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import stamina
from sqlalchemy import and_, delete, func, or_, select

from releases.errors import TargetUnavailable
from releases.state.schema import request_budget
from releases.state.store import StateStore

T = TypeVar("T")

# What a classifier says about a failed attempt: False gives up, True retries with backoff, a
# number retries after that many seconds.
RetryDecision = bool | float


@dataclass(frozen=True)
class RetryPolicy:
    timeout_seconds: float
    max_retry_after_seconds: float
    attempts: int = 6


class Blocked(TargetUnavailable):
    """The endpoint asked us to wait longer than we are willing to (rate limit or lock-out)."""


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds: either a number or an HTTP date."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def rate_limited(retry_after: float | None, policy: RetryPolicy, what: str) -> RetryDecision:
    """The decision for a 429: wait as asked when that is short, stop at once when it is not."""
    if retry_after is None:
        return True
    if retry_after > policy.max_retry_after_seconds:
        raise Blocked(
            f"{what}: rate-limited with Retry-After {retry_after:.0f} s, longer than the "
            f"{policy.max_retry_after_seconds:g} s this tool waits; stopped without retrying. "
            "Nothing was changed by this request; rerun the command once the limit has passed"
        )
    return retry_after


def call(
    operation: Callable[[], T],
    classify: Callable[[Exception], RetryDecision],
    policy: RetryPolicy,
    before_attempt: Callable[[], None] | None = None,
) -> T:
    """Run `operation`, retrying what `classify` calls transient within the policy's limits; the
    last failure propagates for the adapter to explain."""
    for attempt in stamina.retry_context(
        on=classify, attempts=policy.attempts, timeout=policy.timeout_seconds, wait_initial=0.5, wait_max=8.0
    ):
        with attempt:
            if before_attempt is not None:
                before_attempt()
            return operation()
    raise AssertionError("unreachable: stamina re-raises the last failure")  # pragma: no cover


class RequestBudget:
    """At most `limit` requests in any sliding window of `window_seconds`, in this process (see
    `SharedRequestBudget` for the one every process shares through the state store).

    Cloudflare counts every API request of a user against 1,200 per 5 minutes and blocks the user
    for the rest of the window when it is exceeded; running out of our own, smaller budget stops a
    command before Cloudflare would block everyone using the same token.
    """

    def __init__(
        self, limit: int, window_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self._sent: deque[float] = deque()

    @property
    def used(self) -> int:
        self._forget_old()
        return len(self._sent)

    def _forget_old(self) -> None:
        horizon = self.clock() - self.window_seconds
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def spend(self, what: str) -> None:
        self._forget_old()
        if len(self._sent) >= self.limit:
            raise self._exhausted(what, "this command has")
        self._sent.append(self.clock())

    def _exhausted(self, what: str, who: str) -> Blocked:
        return Blocked(
            f"{what}: {who} used the budget of {self.limit} requests per {self.window_seconds:g} s "
            "(kept well under the API's own limit); stopped before sending more. Nothing was changed "
            "by the request not sent; rerun once the window has moved on"
        )


def budget_scope(api: str, token: str) -> str:
    """The budget's key: the API and the token it is counted against (a digest: never the token)."""
    return f"{api}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


class SharedRequestBudget(RequestBudget):
    """The request budget kept in the state store, so that every process using the store (two
    operators' laptops and CI) spends from one budget per API token, and together they cannot
    exceed the API's limit.

    The window is cut into `BUCKETS` buckets on the store's clock, a row each; a request adds one to
    its bucket and is allowed while the buckets of the last window hold no more than `limit`. The
    increment and the check share one transaction (on SQLite the write lock, on PostgreSQL the
    bucket's row lock), so two processes cannot both take the last request. A bucket is 1/10 of the
    window: the window slides in steps of 30 s for Cloudflare's 5 minutes.
    """

    BUCKETS = 10

    def __init__(self, store: StateStore, scope: str, limit: int, window_seconds: float = 300.0) -> None:
        super().__init__(limit, window_seconds)
        self.store = store
        self.scope = scope

    def _bucket(self, now: float) -> int:
        return int(now // (self.window_seconds / self.BUCKETS))

    def _window(self, bucket: int) -> Any:
        table = request_budget
        return and_(
            table.c.scope == self.scope, table.c.bucket > bucket - self.BUCKETS, table.c.bucket <= bucket
        )

    @property
    def used(self) -> int:
        with self.store.read() as connection:
            _, now = self.store.clock(connection)
            total = select(func.coalesce(func.sum(request_budget.c.used), 0)).where(
                self._window(self._bucket(now))
            )
            return int(connection.execute(total).scalar_one())

    def spend(self, what: str) -> None:
        table = request_budget
        with self.store.write() as connection:
            _, now = self.store.clock(connection)
            bucket = self._bucket(now)
            upsert = self.store.upsert(table).values(scope=self.scope, bucket=bucket, used=1)
            connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=[table.c.scope, table.c.bucket], set_={"used": table.c.used + 1}
                )
            )
            total = select(func.sum(table.c.used)).where(self._window(bucket))
            if int(connection.execute(total).scalar_one()) > self.limit:
                raise self._exhausted(what, "the commands sharing the state store have")  # rolled back
            connection.execute(
                delete(table).where(
                    table.c.scope == self.scope,
                    or_(table.c.bucket <= bucket - self.BUCKETS, table.c.bucket > bucket),
                )
            )
