"""How release results look in a terminal: tables, plans and live gate progress (rich).

The engine returns plain data; this module is the only one that formats it for people.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from releases.engine import Action, Result, Status
from releases.gates import Analysis, Progress
from releases.lock import LockHolder
from releases.model import ReleaseRecord, SlotHealth
from releases.redact import redact_url

if TYPE_CHECKING:
    from releases.rehearsal.run import RehearsalReport


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def plan_table(actions: list[Action], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("what")
    for number, action in enumerate(actions, 1):
        table.add_row(str(number), action.step.value, action.description)
    return table


def describe_result(result: Result) -> str:
    if result.message:
        return redact_url(result.message)
    record = result.release
    if not result.executed:
        return "dry run: nothing was changed; the command without --dry-run runs the plan above"
    if record is None:
        return "nothing to do"
    return (
        f"release {record.id}: {record.version} (replacing {record.previous_version}) is "
        f"{record.describe_state()}"
    )


def _slot(slot: SlotHealth) -> str:
    health = "healthy" if slot.healthy else "UNHEALTHY"
    ready = "ready" if slot.ready else "NOT READY"
    return f"{slot.version or '?'} ({slot.name}, {health}, {ready})"


def status_table(statuses: list[Status]) -> Table:
    table = Table(title=f"{statuses[0].environment}" if statuses else "status", title_justify="left")
    for column in ("service", "weights", "production", "staging", "release", "lock"):
        table.add_column(column)
    for status in statuses:
        record = status.release
        release = "-"
        if record is not None:
            release = f"{record.version} {record.describe_state()}"
        lock = status.lock.describe() if status.lock else "free"
        table.add_row(status.service, str(status.live.weights), _slot(status.live.production),
                      _slot(status.live.staging), release, lock)  # fmt: skip
    return table


def _record(record: ReleaseRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "id": record.id,
        "version": record.version,
        "previous_version": record.previous_version,
        "operator": record.operator,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "outcome": record.outcome.value if record.outcome else None,
        "state": record.state.value,
        "hold": record.hold.value if record.hold else None,
        "hold_detail": record.hold_detail,
        "last_percent": record.last_percent,
        "migration": record.migration.value if record.migration else None,
        "reason": record.reason,
    }


def _lock(holder: LockHolder | None) -> dict[str, Any] | None:
    if holder is None:
        return None
    return {
        "owner": holder.owner,
        "host": holder.host,
        "pid": holder.pid,
        "token": holder.token,
        "acquired_at": holder.acquired_at,
        "lease_seconds_left": holder.lease_left(),
    }


def _slot_document(slot: SlotHealth) -> dict[str, Any]:
    return {"slot": slot.name, "version": slot.version, "healthy": slot.healthy, "ready": slot.ready}


def status_document(statuses: list[Status]) -> dict[str, Any]:
    return {
        "environment": statuses[0].environment if statuses else None,
        "services": {
            status.service: {
                "weights": {"stable": status.live.weights.stable, "canary": status.live.weights.canary},
                "canary_pool_up": status.live.canary_pool_up,
                "production": _slot_document(status.live.production),
                "staging": _slot_document(status.live.staging),
                "release": _record(status.release),
                "lock": _lock(status.lock),
            }
            for status in statuses
        },
    }


def _duration(record: ReleaseRecord) -> float | None:
    return None if record.finished_at is None else record.finished_at - record.started_at


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def history_document(records: list[ReleaseRecord]) -> list[dict[str, Any]]:
    return [
        {
            "environment": r.environment,
            "service": r.service,
            **(_record(r) or {}),
            "duration_seconds": _duration(r),
        }
        for r in records
    ]


def history_table(records: list[ReleaseRecord]) -> Table:
    """Readable at 80 columns: the release id (which starts with its start time and names its
    deployment log) and the version never wrap; the state and the reason fold."""
    table = Table(title="releases", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("release", no_wrap=True)
    table.add_column("where", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("previous", no_wrap=True)
    table.add_column("outcome", overflow="fold")
    table.add_column("by", overflow="fold")
    table.add_column("reason", overflow="fold")
    for r in records:
        table.add_row(
            r.id,
            f"{r.environment}/{r.service}",
            _seconds(_duration(r)),
            r.version,
            r.previous_version or "-",
            r.describe_state(),
            r.operator,
            r.reason or "",
        )
    return table


def _figures(analysis: Analysis | None) -> str:
    if analysis is None:
        return "waiting for figures"
    sample = analysis.judged
    rate = f"{sample.error_rate:.2%}" if sample.error_rate is not None else "-"
    p95 = f"{sample.p95_seconds * 1000:.0f} ms" if sample.p95_seconds is not None else "-"
    return f"{sample.requests:.0f} requests, error rate {rate}, p95 {p95}: {analysis.verdict.value}"


class ConsoleProgress(Progress):
    """Live gate progress: one updating line on a terminal, one line per analysis otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Any = None

    def _show(self, line: str) -> None:
        line = redact_url(line)  # a gate's reason may quote a metric source's URL
        if self.console.is_terminal:
            if self._status is None:
                self._status = self.console.status(line)
                self._status.start()
            else:
                self._status.update(line)
        else:
            self.console.print(line, highlight=False)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def health(self, consecutive: int, needed: int, slot: SlotHealth) -> None:
        self._show(f"health gate: {consecutive}/{needed} consecutive, staging {_slot(slot)}")
        if consecutive >= needed:
            self.close()

    def bake(self, label: str, remaining: float, total: float, analysis: Analysis | None) -> None:
        self._show(f"{label}: bake {remaining:4.1f} s of {total:g} s left; {_figures(analysis)}")
        if remaining <= 0:
            self.close()


def _figure(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def rehearsal_table(report: RehearsalReport) -> Table:
    table = Table(title="rehearsal", title_justify="left")
    for column in ("scenario", "outcome", "exit codes", "canary share", "old-version responses",
                   "rollback", "detection"):  # fmt: skip
        table.add_column(column)
    for s in report.scenarios:
        outcome = s.outcome or "-"
        if s.expected_stop is not None and s.stopped_at_percent is not None:
            outcome = f"{outcome} at {s.stopped_at_percent}%"
        if not s.as_expected:
            outcome = f"{outcome} (EXPECTED {s.expected_outcome})"
        shares = ", ".join(
            f"{percent}%: {share:.1%}" if share is not None else f"{percent}%: -"
            for percent, share in s.canary_share.items()
        )
        table.add_row(s.name, outcome, " ".join(map(str, s.exit_codes)), shares or "-",
                      _figure(s.promotion_old_version_responses), _figure(s.rollback_seconds, " s"),
                      _figure(s.detection_seconds, " s"))  # fmt: skip
    requests = report.requests
    runbook = [
        f"{s.name}: backup {s.backup['verified'] if s.backup else 'NOT TAKEN'}; "
        f"migration {s.migration['output'] if s.migration else 'NOT APPLIED'}"
        for s in report.scenarios
        if s.expects_migration
    ]
    table.caption = "\n".join([
        f"{requests['total']} requests at {report.achieved_rps:g}/s (target {report.target_rps:g}/s): "
        f"{requests['failed']} failed, {requests['fault_errors']} injected faults; "
        f"{report.duration_seconds:g} s in all",
        *runbook,
    ])  # fmt: skip
    return table
