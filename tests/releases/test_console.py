"""What operators read: a step's end (verdict, figures, what next, the log), one timestamped line
per state change without a terminal, and the watch frame within 80 columns."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from releases.console import ConsoleProgress, history_table, watch_view
from releases.engine import Status
from releases.gates import Analysis, BakeResult, StepReport, Verdict
from releases.journal import Event, EventKind, Note
from releases.live_figures import BakeFigures
from releases.lock import LockHolder
from releases.model import HoldReason, LiveState, Outcome, ReleaseRecord, SlotHealth, Weights
from releases.process_identity import ProcessIdentity
from releases.targets.metrics.protocol import PoolEvidence
from releases.watch import ServiceView

EVIDENCE = PoolEvidence(812, 3, ((0.05, 800.0), (0.5, 812.0)))
ANALYSIS = Analysis(EVIDENCE, None, Verdict.PASS, ("error rate 0.37% is under 1.00%",), seconds=62)
TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d ")


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=80), out  # a CI log's console: 80 columns


def test_without_a_terminal_a_step_prints_one_timestamped_line_per_state_change() -> None:
    """Without a terminal the health gate printed one line per probe (75 in 15 s), undated."""
    console, out = plain_console()
    progress = ConsoleProgress(console)
    for consecutive in (0, 1, 2, 3, 4, 5):
        progress.health(consecutive, 5, SlotHealth("green", "2.0.0", True, True))
    for remaining in (60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 0.0):
        progress.bake("canary 10%", remaining, 60, ANALYSIS)
    passed = BakeResult(Verdict.PASS, [ANALYSIS], seconds=62)
    progress.step_ended(StepReport("canary 10%", passed, "the 50% step", "/state/reports/r1.md"))
    lines = out.getvalue().splitlines()
    assert all(TIMESTAMP.match(line) for line in lines), lines
    assert [TIMESTAMP.sub("", line).split(":")[0] for line in lines] == [
        "health gate",
        "health gate passed",
        "canary 10%",
        "canary 10%",
    ]
    ended = lines[-1]
    assert "canary 10%: PASS after 1m02s: 812 requests, error rate 0.37%, p95" in ended
    assert "next: the 50% step" in ended and "deployment log: /state/reports/r1.md" in ended


def test_a_bake_ended_by_promote_says_so_and_not_why_it_was_inconclusive() -> None:
    console, out = plain_console()
    inconclusive = Analysis(EVIDENCE, None, Verdict.INCONCLUSIVE, ("not yet shown under 1%",), seconds=20)
    result = BakeResult(Verdict.INCONCLUSIVE, [inconclusive], inconclusive.reasons, 20, True, 5)
    ConsoleProgress(console).step_ended(
        StepReport("canary 10%", result, "the 50% step", None, "promote by alice")
    )
    line = out.getvalue()
    assert "INCONCLUSIVE after 20s (5s paused)" in line and "ended by promote by alice" in line
    assert "why:" not in line and "deployment log" not in line


def _view() -> ServiceView:
    why = "pause by alice (a long reason that has to fold: people write whole sentences when they pause)"
    record = ReleaseRecord(
        "20261203T101500-abcdef12",
        "sandbox",
        "web",
        "2.0.0",
        "1.0.0",
        "tester",
        0.0,
        last_percent=10,
        hold=HoldReason.PAUSED,
        hold_detail=why,
    )
    live = LiveState(
        Weights.canary_percent(10),
        SlotHealth("blue", "1.0.0", True, True),
        SlotHealth("green", "2.0.0", False, True, "503 from /health"),
        True,
    )
    holder = LockHolder(
        "tester",
        "a-rather-long-host-name.example.internal",
        ProcessIdentity(4242, "b", 1),
        7,
        0.0,
        "c",
        100.0,
        "c",
        90.0,
    )
    reason = "error rate 0.37% is not yet shown under 1.00% at 95% confidence (812 requests)"
    figures = BakeFigures("canary 10%", 10, 41.0, 60, True, "inconclusive", 812, 0.0037, 0.048, reason)
    step = Event(
        9,
        0.0,
        "sandbox",
        "web",
        record.id,
        "tester",
        EventKind.INTENT,
        "bake",
        {"description": "bake 60 s at 10%", "percent": 10},
    )
    return ServiceView(Status("sandbox", "web", live, record, holder), step, figures, None)


@pytest.mark.parametrize("width", [80, 160])
def test_the_watch_frame_shows_the_running_bake_within_the_terminal_width(width: int) -> None:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False).print(watch_view([_view()], 0.0))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    for shown in (
        "stable=0.9 canary=0.1 (10% on the canary)",
        "UNHEALTHY",
        "held at 10% (paused)",
        "41 s of 60 s left (PAUSED)",
        "812 requests, error rate 0.37%, p95 48 ms: inconclusive",
        "bake 60 s at 10%",
        "pid 4242",
    ):
        assert shown in flat, (shown, text)


def test_the_watch_frame_without_a_release_says_none() -> None:
    view = _view()
    status = Status("sandbox", "web", view.status.live, None, None)
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(
        watch_view([ServiceView(status, None, None, None)], 0)
    )
    flat = " ".join(out.getvalue().split())
    assert "release none" in flat and "lock free" in flat
    assert Note.BAKE_PROGRESS not in flat


def test_history_at_80_columns_keeps_every_field() -> None:
    """At 80 columns the outcome, operator and reason columns were dropped (or cut to `promot…`),
    and a release rolled back at 50% did not say how far it got."""
    records = [
        ReleaseRecord(
            "20261203T101500-abcdef12",
            "production",
            "web",
            "2.0.0",
            "1.0.0",
            "alice",
            1.0e9,
            1.0e9 + 400,
            Outcome.PROMOTED,
            100,
            reason="fixes checkout timeouts for EU users",
        ),
        ReleaseRecord(
            "20261203T111500-0bcdef12",
            "sandbox",
            "api",
            "2.1.0-rc.1",
            "2.0.0",
            "bob",
            1.0e9,
            1.0e9 + 100,
            Outcome.ROLLED_BACK,
            50,
        ),
    ]
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(history_table(records))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    for shown in (
        "20261203T101500-abcdef12",
        "production/web",
        "6m40s",
        "2.0.0",
        "1.0.0",
        "promoted, by alice",
        "fixes checkout timeouts for EU users",
        "2.1.0-rc.1",
        "rolled back from",  # ... 50%: the furthest step it reached (the cell folds at 80)
        "50%, by bob",
        "1m40s",
    ):
        assert shown in flat, (shown, text)
