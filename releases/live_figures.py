"""The figures a running release publishes through the journal, so that any shell sharing the
store can watch them (`invoke status --watch`).

A bake journals a `Note.BAKE_PROGRESS` event with its figures so far at most once per
`max(analysis interval, MIN_PUBLISH_SECONDS)`, and at once when it pauses or resumes: an hour-long
bake at a 10 s interval adds 360 rows, and the watch reads one row a second (the newest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from releases.gates import Analysis, Progress
from releases.journal import Event
from releases.model import SlotHealth

MIN_PUBLISH_SECONDS = 2.0


@dataclass(frozen=True)
class BakeFigures:
    """A bake's state as published: what `status --watch` shows."""

    label: str
    percent: int | None
    remaining_seconds: float
    total_seconds: float
    paused: bool
    verdict: str | None  # the verdict so far (None before the first analysis)
    requests: float | None
    error_rate: float | None
    p95_seconds: float | None
    reason: str | None  # the first reason of the verdict so far
    at: float = 0.0

    def detail(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "percent": self.percent,
            "remaining_seconds": round(self.remaining_seconds, 1),
            "total_seconds": self.total_seconds,
            "paused": self.paused,
            "verdict": self.verdict,
            "requests": self.requests,
            "error_rate": self.error_rate,
            "p95_seconds": self.p95_seconds,
            "reason": self.reason,
        }

    @classmethod
    def from_event(cls, event: Event) -> BakeFigures:
        detail = event.detail

        def number(key: str) -> float | None:
            value = detail.get(key)
            return float(value) if isinstance(value, int | float) else None

        percent = detail.get("percent")
        return cls(
            label=str(detail.get("label", "")),
            percent=percent if isinstance(percent, int) else None,
            remaining_seconds=number("remaining_seconds") or 0.0,
            total_seconds=number("total_seconds") or 0.0,
            paused=bool(detail.get("paused")),
            verdict=str(detail["verdict"]) if detail.get("verdict") else None,
            requests=number("requests"),
            error_rate=number("error_rate"),
            p95_seconds=number("p95_seconds"),
            reason=str(detail["reason"]) if detail.get("reason") else None,
            at=event.at,
        )


class PublishingProgress(Progress):
    """Forwards to the console's progress, and publishes the bake's figures at a bounded rate."""

    def __init__(
        self,
        inner: Progress,
        publish: Callable[[BakeFigures], None],
        clock: Callable[[], float],
        every: float,
        percent: int | None,
    ) -> None:
        self.inner = inner
        self.publish = publish
        self.clock = clock
        self.every = max(every, MIN_PUBLISH_SECONDS)
        self.percent = percent
        self._last: float | None = None
        self._paused = False

    def health(self, consecutive: int, needed: int, slot: SlotHealth) -> None:
        self.inner.health(consecutive, needed, slot)

    def bake(
        self, label: str, remaining: float, total: float, analysis: Analysis | None, paused: bool = False
    ) -> None:
        self.inner.bake(label, remaining, total, analysis, paused)
        now = self.clock()
        if self._last is not None and now - self._last < self.every and paused == self._paused:
            return
        self._last, self._paused = now, paused
        judged = analysis.judged if analysis is not None else None
        self.publish(
            BakeFigures(
                label=label,
                percent=self.percent,
                remaining_seconds=remaining,
                total_seconds=total,
                paused=paused,
                verdict=analysis.verdict.value if analysis is not None else None,
                requests=judged.requests if judged is not None else None,
                error_rate=judged.error_rate if judged is not None else None,
                p95_seconds=judged.p95_seconds if judged is not None else None,
                reason=analysis.reasons[0] if analysis is not None and analysis.reasons else None,
            )
        )
