"""One release's journaled events, read one way by everything that reads them: the engine (what
has run already), the deployment log, the rehearsal's measures and the console.

Events are typed (`EventKind`, and a `Step` or `Note` id as the action); nothing here matches on
a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from releases.journal import Event, EventKind, Journal, Note
from releases.model import ReleaseRecord
from releases.plan import Step


@dataclass(frozen=True)
class CanaryStep:
    """A canary step as it happened: weights written at `started`, its bake judged at `ended`."""

    percent: int
    started: float
    ended: float | None
    verdict: str | None


@dataclass(frozen=True)
class ReleaseLog:
    record: ReleaseRecord
    events: list[Event]

    @classmethod
    def read(cls, journal: Journal, record: ReleaseRecord) -> ReleaseLog:
        return cls(record, journal.events(record.id))

    def _of(self, kind: EventKind, action: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind is kind and (action is None or e.action == action)]

    def intents(self, step: Step | None = None) -> list[Event]:
        return self._of(EventKind.INTENT, step)

    def outcomes(self, step: Step | None = None) -> list[Event]:
        return self._of(EventKind.OUTCOME, step)

    def gates(self, step: Step | None = None) -> list[Event]:
        return self._of(EventKind.GATE, step)

    def notes(self, note: Note) -> list[Event]:
        return self._of(EventKind.NOTE, note)

    def last_gate(self, step: Step) -> Event | None:
        gates = self.gates(step)
        return gates[-1] if gates else None

    def canary_steps(self) -> list[CanaryStep]:
        """Each canary weight change (percent 1-99) with the end of the bake that judged it."""
        steps = []
        for index, event in enumerate(self.events):
            percent = event.detail.get("percent")
            if event.kind is not EventKind.OUTCOME or event.action != Step.WEIGHTS:
                continue
            if not isinstance(percent, int) or not 0 < percent < 100:
                continue
            later = self.events[index:]
            bakes = [e for e in later if e.kind is EventKind.GATE and e.action == Step.BAKE]
            judged = next((e for e in bakes if e.detail.get("percent") == percent), None)
            steps.append(
                CanaryStep(
                    percent,
                    event.at,
                    judged.at if judged else None,
                    str(judged.detail.get("verdict")) if judged else None,
                )
            )
        return steps
