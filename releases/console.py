"""How release results look in a terminal: tables, plans and live gate progress (rich).

The engine returns plain data; this module is the only one that formats it for people.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from releases.engine import Action, Result, Status
from releases.formatting import milliseconds, rate
from releases.gates import Analysis, Progress, StepReport, Verdict
from releases.live_figures import BakeFigures
from releases.lock import LockHolder
from releases.model import ReleaseRecord, SlotHealth
from releases.redact import redact_url

if TYPE_CHECKING:
    from releases.rehearsal.run import RehearsalReport
    from releases.watch import ServiceView


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


def _bake_line(figures: BakeFigures) -> str:
    paused = " (PAUSED)" if figures.paused else ""
    left = f"{figures.remaining_seconds:.0f} s of {figures.total_seconds:g} s left"
    return (
        f"{figures.label}: bake {left}{paused}; "
        f"{_watched_figures(figures.requests, figures.error_rate, figures.p95_seconds)}"
        f"{figures.verdict or 'waiting'}"
    )


def status_table(statuses: list[Status], bakes: Mapping[str, BakeFigures | None] | None = None) -> Table:
    """The status of each service; `bakes`, by service, the figures a running bake published."""
    table = Table(title=f"{statuses[0].environment}" if statuses else "status", title_justify="left")
    running = [(service, figures) for service, figures in (bakes or {}).items() if figures is not None]
    if running:
        table.caption = "\n".join(f"{service}: {_bake_line(figures)}" for service, figures in running)
        table.caption_justify = "left"
    for column in ("service", "weights", "production", "staging", "release", "lock"):
        table.add_column(column)
    for status in statuses:
        record = status.release
        release = "-"
        if record is not None:
            release = f"{record.version} {record.describe_state()}"
        lock = status.lock.describe() if status.lock else "free"
        table.add_row(
            status.service,
            str(status.live.weights),
            _slot(status.live.production),
            _slot(status.live.staging),
            release,
            lock,
        )
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


def status_document(
    statuses: list[Status], bakes: Mapping[str, BakeFigures | None] | None = None
) -> dict[str, Any]:
    bakes = bakes or {}
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
                # The running bake's figures as it last published them (None: no bake running).
                "bake": figures.detail() if (figures := bakes.get(status.service)) is not None else None,
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
    """Readable at 80 columns: two lines per release, so no column is dropped. The release id
    (which names its deployment log) never wraps; versions, outcome, operator and reason fold."""
    table = Table(title="releases", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("release\nstarted", no_wrap=True)
    table.add_column("where\ntook", no_wrap=True)
    table.add_column("version\nprevious", overflow="fold", min_width=8)
    table.add_column("outcome, by\nreason", overflow="fold", min_width=16)
    for r in records:
        outcome = Text(f"{r.describe_state()}, by {r.operator}")
        if r.reason:
            outcome.append(f"\n{r.reason}", style="dim")
        table.add_row(
            f"{r.id}\n{_when(r.started_at)}",
            f"{r.environment}/{r.service}\n{_seconds(_duration(r))}",
            f"{r.version}\n{r.previous_version or '-'}",
            outcome,
        )
    return table


def _figures(analysis: Analysis | None) -> str:
    if analysis is None:
        return "waiting for figures"
    sample = analysis.judged
    return (
        f"{sample.requests:.0f} requests, error rate {rate(sample.error_rate)}, p95 "
        f"{milliseconds(sample.p95_seconds)}: {analysis.verdict.value}"
    )


VERDICT_STYLES = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.INCONCLUSIVE: "yellow"}


def step_report(report: StepReport) -> list[Text]:
    """A bake's end as an operator reads it: verdict and figures, what happens next, the log."""
    result = report.result
    last = result.analyses[-1] if result.analyses else None
    took = f" after {_seconds(result.seconds)}"
    if result.paused_seconds:
        took += f" ({_seconds(result.paused_seconds)} paused)"
    verdict = Text(f"{report.label}: ")
    verdict.append(result.verdict.value.upper(), style=VERDICT_STYLES[result.verdict])
    verdict.append(took)
    if last is not None:
        sample = last.judged
        verdict.append(
            f": {sample.requests:,.0f} requests, error rate {rate(sample.error_rate)}, "
            f"p95 {milliseconds(sample.p95_seconds)}"
        )
    if report.ended_by:
        verdict.append(f"; ended by {report.ended_by}")
    lines = [verdict]
    if result.verdict is not Verdict.PASS and result.reasons and not report.ended_by:
        lines.append(Text(f"why: {redact_url(result.reasons[0])}"))
    lines.append(Text(f"next: {report.next_step}"))
    if report.log_path:
        lines.append(Text(f"deployment log: {report.log_path} (written when the release ends)"))
    return lines


class ConsoleProgress(Progress):
    """Gate progress. On a terminal: one updating line while a gate runs, and a line for each state
    change. Without one (CI, a pipe): timestamped lines, one per state change (a gate started,
    passed, paused, resumed, ended), never one per probe or per analysis."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Any = None
        self._baking: str | None = None
        self._health_started = False

    @property
    def _live(self) -> bool:
        return self.console.is_terminal

    def _line(self, text: str | Text) -> None:
        """A state change: above the updating line on a terminal, else timestamped."""
        line = Text(redact_url(text)) if isinstance(text, str) else text
        if self._live:
            self.console.print(line, highlight=False)
        else:
            # One line per change, however long: CI logs are read (and grepped) line by line.
            stamped = Text(time.strftime("%H:%M:%S "), style="dim") + line
            self.console.print(stamped, highlight=False, soft_wrap=True)

    def _show(self, line: str) -> None:
        """The one updating line (a terminal only)."""
        line = redact_url(line)  # a gate's reason may quote a metric source's URL
        if self._status is None:
            self._status = self.console.status(line)
            self._status.start()
        else:
            self._status.update(line)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def health(self, consecutive: int, needed: int, slot: SlotHealth) -> None:
        if self._live:
            self._show(f"health gate: {consecutive}/{needed} consecutive, staging {_slot(slot)}")
        elif not self._health_started:
            self._line(f"health gate: waiting for {needed} consecutive healthy answers from staging")
            self._health_started = True
        if consecutive >= needed:
            self.close()
            self._health_started = False
            self._line(f"health gate passed: staging {_slot(slot)}, {needed} times in a row")

    def bake(
        self, label: str, remaining: float, total: float, analysis: Analysis | None, paused: bool = False
    ) -> None:
        if self._baking != label:
            self._baking = label
            self._line(f"{label}: bake of {total:g} s started")
        if self._live:
            state = "PAUSED, " if paused else ""
            self._show(f"{label}: {state}bake {remaining:4.1f} s of {total:g} s left; {_figures(analysis)}")

    def state(self, text: str) -> None:
        self._line(text)

    def step_ended(self, report: StepReport) -> None:
        self.close()
        self._baking = None
        lines = step_report(report)
        if self._live:
            for number, line in enumerate(lines):
                self._line(Text("  ") + line if number else line)
        else:
            self._line(Text("; ").join(line.copy() for line in lines))


def _verdict(verdict: object) -> Text:
    try:
        known = Verdict(str(verdict))
    except ValueError:
        return Text(str(verdict))
    return Text(known.value, style=VERDICT_STYLES[known])


def _slot_text(slot: SlotHealth) -> Text:
    return Text(_slot(slot), style="" if slot.serving else "bold red")


def _watched_figures(requests: object, error_rate: object, p95: object) -> str:
    def number(value: object) -> float | None:
        return float(value) if isinstance(value, int | float) else None

    count = number(requests)
    return (
        f"{count or 0:,.0f} requests, error rate {rate(number(error_rate))}, "
        f"p95 {milliseconds(number(p95))}: "
    )


def watch_service(view: ServiceView) -> Table:
    """One service as `status --watch` shows it: two columns that fold, so 80 columns suffice."""
    status = view.status
    live = status.live
    table = Table(
        title=f"{status.environment}/{status.service}",
        title_justify="left",
        box=box.SIMPLE,
        show_header=False,
        padding=(0, 1),
    )
    table.add_column("what", no_wrap=True, style="bold")
    table.add_column("value", overflow="fold")
    share = live.weights.canary_share
    table.add_row("weights", f"{live.weights} ({share:.0%} on the canary)")
    table.add_row("production", _slot_text(live.production))
    table.add_row("staging", _slot_text(live.staging))
    record = status.release
    if record is None:
        table.add_row("release", "none")
    else:
        state = Text(
            f"{record.version} replacing {record.previous_version or '-'}: {record.describe_state()}"
        )
        if record.hold is not None:
            state.stylize("yellow")
        table.add_row("release", state)
        if record.hold_detail:
            table.add_row("held", redact_url(record.hold_detail))
    if view.step is not None and record is not None and record.in_flight:
        table.add_row("step", str(view.step.detail.get("description") or view.step.action))
    figures = view.figures
    if figures is not None:
        left = f"{figures.remaining_seconds:.0f} s of {figures.total_seconds:g} s left"
        bake = Text(f"{figures.label}: {left}")
        if figures.paused:
            bake.append(" (PAUSED)", style="bold yellow")
        table.add_row("bake", bake)
        gate = Text(_watched_figures(figures.requests, figures.error_rate, figures.p95_seconds))
        gate.append_text(_verdict(figures.verdict or "waiting"))
        table.add_row("gate", gate)
        if figures.reason:
            table.add_row("", Text(redact_url(figures.reason), style="dim"))
    elif view.gate is not None:
        detail = view.gate.detail
        gate = Text(
            _watched_figures(detail.get("requests"), detail.get("error_rate"), detail.get("p95_seconds"))
        )
        gate.append_text(_verdict(detail.get("verdict")))
        percent = detail.get("percent")
        table.add_row("last gate", Text(f"{percent}%: " if percent else "") + gate)
    table.add_row("lock", status.lock.describe() if status.lock else "free")
    return table


def watch_view(views: list[ServiceView], now: float) -> Group:
    """Every watched service, and when the frame was drawn."""
    heading = Text(f"{_when(now)}  (refreshes every second; Ctrl-C stops)", style="dim")
    return Group(heading, *(watch_service(view) for view in views))


def _figure(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def rehearsal_table(report: RehearsalReport) -> Table:
    table = Table(title="rehearsal", title_justify="left")
    for column in (
        "scenario",
        "outcome",
        "exit codes",
        "canary share",
        "old-version responses",
        "rollback",
        "detection",
    ):
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
        table.add_row(
            s.name,
            outcome,
            " ".join(map(str, s.exit_codes)),
            shares or "-",
            _figure(s.promotion_old_version_responses),
            _figure(s.rollback_seconds, " s"),
            _figure(s.detection_seconds, " s"),
        )
    requests = report.requests
    runbook = [
        f"{s.name}: backup {s.backup['verified'] if s.backup else 'NOT TAKEN'}; "
        f"migration {s.migration['output'] if s.migration else 'NOT APPLIED'}"
        for s in report.scenarios
        if s.expects_migration
    ]
    table.caption = "\n".join(
        [
            f"{requests['total']} requests at {report.achieved_rps:g}/s (target {report.target_rps:g}/s): "
            f"{requests['failed']} failed, {requests['fault_errors']} injected faults; "
            f"{report.duration_seconds:g} s in all",
            *runbook,
        ]
    )
    return table
