"""Operator controls of a running release: `invoke promote [--full]`, `pause` and `resume`.

A control is a journal event (a `Note` per control, with the operator, the time and the reason),
written from any shell *without* the release lock: the running release holds the lock, and the
control is a request to it, not an action of its own. The running release reads the requests
journaled since it took the lock (`ControlInbox`), at every look of its bake and while it waits
for an approval, and acts on them itself, fenced like all its writes: a pause holds the step
(`HoldReason.PAUSED`, the bake clock stopped), a resume goes on with the time left, a promote ends
the bake now (or passes an approval step), `--full` then goes straight to promotion.

A control needs a running release: with no release in flight, or one that no command is running
(held after an inconclusive gate, an interruption), it is refused (exit 3) with the command that
moves that release on. Controls are never applied later by another command: each command reads
only the requests journaled after it took the lock.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from releases.errors import Refused
from releases.journal import Event, EventKind, Journal, Note
from releases.lock import current_holder
from releases.model import HoldReason, ReleaseRecord
from releases.plan import Step


class Control(enum.StrEnum):
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"

    @property
    def note(self) -> Note:
        return _NOTES[self]


_NOTES = {
    Control.PROMOTE: Note.PROMOTE_REQUESTED,
    Control.PAUSE: Note.PAUSE_REQUESTED,
    Control.RESUME: Note.RESUME_REQUESTED,
}
CONTROL_NOTES: tuple[str, ...] = tuple(_NOTES.values())


@dataclass(frozen=True)
class ControlRequest:
    control: Control
    operator: str
    at: float
    seq: int
    reason: str | None = None
    full: bool = False  # promote --full: skip the remaining steps, straight to promotion
    # The step the release was at when the operator asked (its furthest percent): a promote that
    # arrives once that step has ended must not end the next one unjudged.
    percent: int | None = None

    @classmethod
    def from_event(cls, event: Event) -> ControlRequest:
        control = next(control for control, note in _NOTES.items() if note == event.action)
        reason = event.detail.get("reason")
        return cls(
            control,
            event.operator,
            event.at,
            event.seq,
            str(reason) if reason else None,
            bool(event.detail.get("full")),
            event.detail.get("percent"),
        )

    def describe(self) -> str:
        what = "promote --full" if self.full else self.control.value
        return f"{what} by {self.operator}" + (f" ({self.reason})" if self.reason else "")


class ControlInbox:
    """The requests for one environment and service journaled after `since` (a sequence number
    read before the command took the lock), each handed out once.

    Every poll reads all of them since `since` and skips those already handed out, rather than
    moving a cursor past the newest: on PostgreSQL, sequence numbers are taken in one order and
    committed in another, so a request can become visible after one numbered above it."""

    def __init__(self, journal: Journal, environment: str, service: str, since: int) -> None:
        self.journal = journal
        self.environment = environment
        self.service = service
        self.since = since
        self.handled: set[int] = set()

    def poll(self) -> list[ControlRequest]:
        events = self.journal.events_after(self.environment, self.service, self.since, CONTROL_NOTES)
        fresh = [event for event in events if event.seq not in self.handled]
        self.handled.update(event.seq for event in fresh)
        return [ControlRequest.from_event(event) for event in fresh]


def request(
    journal: Journal,
    environment: str,
    service: str,
    control: Control,
    reason: str | None = None,
    full: bool = False,
) -> ReleaseRecord:
    """Journal `control` for the release running now, or refuse saying why and what to run."""
    record = journal.latest_release(environment, service)
    if record is None or not record.in_flight:
        last = f" (the last release, {record.version}, is {record.describe_state()})" if record else ""
        raise Refused(
            f"nothing to {control.value}: no release of {service} is in flight in {environment}{last}"
        )
    holder = current_holder(journal, environment, service)
    if holder is None or holder.is_stale():
        raise Refused(_not_running(record, control))
    if control is not Control.PROMOTE and record.hold is HoldReason.APPROVAL:
        raise Refused(
            f"the release of {record.version} waits for approval at {record.last_percent}%, traffic "
            f"unchanged: there is no bake to {control.value}. `invoke promote` approves it"
        )
    if control is Control.PAUSE and record.hold is HoldReason.PAUSED:
        raise Refused(
            f"the release of {record.version} is already paused ({record.hold_detail}); "
            "`invoke resume` continues it"
        )
    if (
        control is Control.RESUME
        and record.hold is not HoldReason.PAUSED
        and not _pause_pending(journal, record)
    ):
        raise Refused(
            f"nothing to resume: the release of {record.version} is {record.describe_state()}, not paused"
        )
    journal.record(
        environment,
        service,
        EventKind.NOTE,
        control.note,
        record.id,
        reason=reason,
        full=full,
        percent=record.last_percent,
    )
    return record


def _pause_pending(journal: Journal, record: ReleaseRecord) -> bool:
    """A pause journaled that the running release has not acted on yet (it looks once per
    analysis interval): a resume right after it is not refused."""
    latest = journal.latest_event(
        record.id, (Note.PAUSE_REQUESTED, Note.RESUME_REQUESTED, Note.RESUMED, Note.HELD)
    )
    return latest is not None and latest.action == Note.PAUSE_REQUESTED


def _not_running(record: ReleaseRecord, control: Control) -> str:
    where = record.last_percent or 0
    ways = {
        Control.PROMOTE: f"`invoke release --percent 100` promotes it (with --force --reason if the {where}% "
        "gate did not pass)",
        Control.PAUSE: "it is not moving: nothing to pause",
        Control.RESUME: "`invoke release --auto` walks its remaining steps (a held step bakes again), "
        f"`invoke release --percent {where or 10}` runs one",
    }
    return (
        f"no command is running the release of {record.version} ({record.describe_state()}); "
        f"{control.value} acts on a running release. {ways[control]}, or `invoke rollback`"
    )


def acknowledgement(
    journal: Journal,
    record: ReleaseRecord,
    control: Control,
    since: int,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """What the running release journaled in answer to `control` (requested after `since`), in
    the operator's words; None if it has not answered within `timeout`."""
    deadline = clock() + timeout
    while True:
        answers = journal.events_after(record.environment, record.service, since, _ANSWERS[control])
        for event in answers:
            if event.release_id == record.id and (said := _answer(control, event)) is not None:
                return said
        if clock() >= deadline:
            return None
        sleep(0.2)


_ANSWERS: dict[Control, tuple[str, ...]] = {
    Control.PAUSE: (Note.HELD,),
    Control.RESUME: (Note.RESUMED,),
    Control.PROMOTE: (Step.BAKE, Step.VERIFY, Step.APPROVE, Note.PROMOTE_STALE),
}


def _answer(control: Control, event: Event) -> str | None:
    detail = event.detail
    percent = detail.get("percent")
    where = f"at {percent}%" if percent else "after promotion"
    if control is Control.PAUSE and detail.get("hold") == HoldReason.PAUSED:
        return f"paused {where}: the bake clock stopped; `invoke resume` goes on with the time left"
    if control is Control.RESUME and detail.get("hold") == HoldReason.PAUSED:
        return "resumed: the bake goes on with the time it had left"
    if control is Control.PROMOTE and event.kind is EventKind.GATE and detail.get("ended_by"):
        return f"the bake {where} ended ({detail.get('verdict')} so far, figures journaled); moving on"
    if control is Control.PROMOTE and event.kind is EventKind.OUTCOME and event.action == Step.APPROVE:
        return f"approved {where}; moving on"
    if control is Control.PROMOTE and event.action == Note.PROMOTE_STALE:
        return (
            f"not applied: the {detail.get('asked_at')}% step had ended when it arrived; the "
            f"{detail.get('now_at')}% step is judged as usual (`invoke promote` again to end it)"
        )
    return None
