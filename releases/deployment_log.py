"""The deployment log the runbooks keep by hand, written for every finished release.

One markdown file per release, from the journal alone: who released what over what, when each
step started and finished, every gate's figures and verdict, announcements that did not reach the
team, and the outcome. The journal stays the record; this is its readable page.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from releases.formatting import count, milliseconds, rate
from releases.journal import EventKind, Journal, Note
from releases.model import ReleaseRecord
from releases.plan import Step
from releases.release_log import ReleaseLog
from releases.state_files import private_directory, write_private


def label(action: str) -> str:
    """What people read for a journaled action id."""
    try:
        return Step(action).label
    except ValueError:  # a Note id
        return action.replace("-", " ")


def _when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _step_rows(log: ReleaseLog) -> list[str]:
    record = log.record
    rows = []
    for event in log.events:
        if event.kind not in (EventKind.INTENT, EventKind.OUTCOME):
            continue
        what = str(event.detail.get("description") or label(event.action))
        # What the runbook's steps found: a swap undone, the backup's check, the migration's output.
        extra = " ".join(
            str(event.detail[key])
            for key in ("undone", "verified", "location", "output")
            if event.detail.get(key)
        ).replace("\n", " / ")
        state = "started" if event.kind is EventKind.INTENT else "done"
        offset = f"+{event.at - record.started_at:.1f} s"
        rows.append(f"| {_when(event.at)} | {offset} | {state} | {what} | {extra} |")
    return rows


def _gate_rows(log: ReleaseLog) -> list[str]:
    rows = []
    for event in log.gates():
        detail = event.detail
        percent = detail.get("percent")
        where = "staging" if percent == 0 else f"{percent}%" if percent not in (None, 100) else "production"
        reasons = "; ".join(detail.get("reasons") or []) or "-"
        p_value = detail.get("p_value")
        verdict = str(detail.get("verdict"))
        if detail.get("ended_by"):  # an operator ended the bake: the verdict is the one so far
            verdict += f" (bake ended by {detail['ended_by']})"
        rows.append(
            f"| {_when(event.at)} | {label(event.action)} at {where} | {verdict} | "
            f"{count(detail.get('requests'))} | "
            f"{rate(detail.get('error_rate'))} | {milliseconds(detail.get('p95_seconds'))} | "
            f"{f'{p_value:.3g}' if isinstance(p_value, int | float) else '-'} | {reasons} |"
        )
    return rows


# What operators did to the release while it ran (releases/controls.py), and its holds.
_CONTROL_NOTES = (
    Note.PAUSE_REQUESTED,
    Note.RESUME_REQUESTED,
    Note.PROMOTE_REQUESTED,
    Note.HELD,
    Note.RESUMED,
    Note.STEPS_SKIPPED,
)


def _control_rows(log: ReleaseLog) -> list[str]:
    rows = []
    for event in log.events:
        if event.kind is not EventKind.NOTE or event.action not in _CONTROL_NOTES:
            continue
        detail = event.detail
        what = label(event.action) + (" --full" if detail.get("full") else "")
        if event.action in (Note.HELD, Note.RESUMED):
            what += f" ({detail.get('hold')})"
        if event.action == Note.STEPS_SKIPPED:
            what += f": {', '.join(f'{step}%' for step in detail.get('skipped') or []) or 'none'}"
        why = detail.get("reason") or detail.get("why") or detail.get("detail") or ""
        by = detail.get("by") or event.operator
        rows.append(f"| {_when(event.at)} | {what} | {by} | {why} |")
    return rows


def _pinned_images(log: ReleaseLog) -> list[str]:
    """The image references a release journaled as pinned by digest (a note event `image`)."""
    return [str(e.detail["image"]) for e in log.notes(Note.IMAGE) if e.detail.get("image")]


def render(log: ReleaseLog) -> str:
    record, events = log.record, log.events
    finished = record.finished_at or (events[-1].at if events else record.started_at)
    undelivered = log.notes(Note.NOTIFY)
    state = record.describe_state()
    lines = [
        f"# {record.environment}/{record.service} {record.version}: {state}",
        "",
        f"- Release: `{record.id}`",
        f"- Version: {record.version} (replacing {record.previous_version or 'nothing'})",
        *(f"- Image: `{image}` (pinned by digest)" for image in _pinned_images(log)[-1:]),
        f"- Operator: {record.operator}",
        f"- Started: {_when(record.started_at)}",
        f"- Finished: {_when(finished)} ({finished - record.started_at:.1f} s)",
        f"- Outcome: **{state}**",
        *([f"- Reason: {record.reason}"] if record.reason else []),
        "",
        "## Steps",
        "",
        "| time | since start | state | step | detail |",
        "|---|---|---|---|---|",
        *_step_rows(log),
        "",
        "## Gates",
        "",
        "| time | gate | verdict | requests | error rate | p95 | p (canary vs stable) | reasons |",
        "|---|---|---|---|---|---|---|---|",
        *(_gate_rows(log) or ["| - | no gate ran | | | | | | |"]),
        "",
    ]
    if controls := _control_rows(log):
        lines += [
            "## Operator controls and holds",
            "",
            "| time | what | by | why |",
            "|---|---|---|---|",
            *controls,
            "",
        ]
    if undelivered:
        lines += [
            "## Announcements not delivered",
            "",
            *(f"- {_when(e.at)}: {e.detail.get('state')}: {e.detail.get('failed')}" for e in undelivered),
            "",
        ]
    return "\n".join(lines)


def write(journal: Journal, record: ReleaseRecord, directory: Path) -> Path:
    """Write the release's log as `<directory>/<release id>-<env>-<service>-<version>.md` (the id
    starts with the release's start time, so the files sort by it). Mode 0600 in a 0700 directory:
    it holds operational data (releases/state_files.py)."""
    private_directory(directory)
    return write_private(path_for(record, directory), render(ReleaseLog.read(journal, record)))


def path_for(record: ReleaseRecord, directory: Path) -> Path:
    """Where the release's log is (or will be, once it ends): what each step's report names."""
    return directory / f"{record.id}-{record.environment}-{record.service}-{record.version}.md"
