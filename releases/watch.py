"""What `invoke status --watch` shows, gathered: the live state (read at most every
`watch_observe_seconds`: in the clouds each read is an API request), and from the journal, read
every refresh, the release, the step under way, the figures its bake published and its last gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from releases.engine import Engine, Status
from releases.journal import Event, EventKind, Note
from releases.live_figures import BakeFigures
from releases.model import LiveState
from releases.plan import Step

JUDGED_STEPS = (Step.BAKE, Step.VERIFY)


@dataclass(frozen=True)
class ServiceView:
    status: Status
    step: Event | None  # the newest intent: the step under way (or last begun)
    figures: BakeFigures | None  # the running bake's figures, when newer than its last gate
    gate: Event | None  # the newest gate verdict of a bake, with its figures


class Watcher:
    """One service's view, refreshed by `view()`; the live state is re-read only when due."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.every = engine.settings.watch_observe_seconds
        self._live: LiveState | None = None
        self._observed_at = 0.0

    def view(self, now: float) -> ServiceView:
        """`now` on a monotonic clock, for the observation's cadence."""
        if self._live is None or now - self._observed_at >= self.every:
            self._live, self._observed_at = self.engine.observe(), now
        status = self.engine.status(self._live)
        record, journal = status.release, self.engine.journal
        if record is None:
            return ServiceView(status, None, None, None)
        steps = tuple(str(step) for step in Step)
        step = journal.latest_event(record.id, steps, EventKind.INTENT)
        gate = journal.latest_event(record.id, tuple(str(s) for s in JUDGED_STEPS), EventKind.GATE)
        progress = journal.latest_event(record.id, (Note.BAKE_PROGRESS,))
        fresh = progress is not None and (gate is None or progress.seq > gate.seq) and record.in_flight
        figures = BakeFigures.from_event(progress) if progress is not None and fresh else None
        return ServiceView(status, step, figures, gate)
