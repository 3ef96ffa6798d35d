"""Operator controls end to end on a real sandbox through `invoke`, from a second shell while a
release runs in the first: pause holds it and resume continues the bake with the time it had left,
`status --watch` shows it live in a pseudo-terminal at 80 and 160 columns, promote --full from 10%
promotes at once; an approval step holds until promote, and promote ends a bake."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from releases.plan import Step
from tests.releases.sandbox_helpers import (
    Operator,
    fast,
    journal_rows,
    needs_sandbox_programs,
    steady_load,
    wait_for_intent,
)

pytestmark = [pytest.mark.e2e, needs_sandbox_programs]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    person = Operator(tmp_path / "state", fast(analysis={"interval_seconds": 0.5}))
    up = person.run("sandbox.up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield person
    person.run("sandbox.down")


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    pytest.fail(f"never: {what}")


def notes(operator: Operator, action: str) -> list[dict[str, Any]]:
    rows = journal_rows(operator, "SELECT detail FROM events WHERE action = ? ORDER BY seq", action)
    return [json.loads(detail) for (detail,) in rows]


def answered(operator: Operator, said: str, answer: str, journaled: Callable[[], Any]) -> None:
    """A control's command waits a few of the release's looks for its answer and prints it. On a
    busy machine a look can take longer: the command then says the control was journaled and when
    it is acted on, and the journal shows the answer soon after."""
    if answer not in said:
        assert "the running release acts on it at its next check" in said, said
        wait_until(f"the release's answer: {answer}", journaled)


def gates_at(operator: Operator, percent: int) -> list[dict[str, Any]]:
    rows = journal_rows(operator, "SELECT detail FROM events WHERE kind = 'gate' AND action = 'bake'")
    return [d for d in (json.loads(detail) for (detail,) in rows) if d.get("percent") == percent]


def baking_at(operator: Operator, percent: int) -> bool:
    rows = journal_rows(operator, "SELECT detail FROM events WHERE kind = 'intent' AND action = 'bake'")
    return any(json.loads(detail).get("percent") == percent for (detail,) in rows)


def watch_in_a_terminal(operator: Operator, columns: int, until: Callable[[str], bool]) -> tuple[str, int]:
    """`invoke status --watch` in a pseudo-terminal `columns` wide, until its output satisfies
    `until` (or 30 s), then Ctrl-C: the raw output and the exit code."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {key: value for key, value in operator.env.items() if key not in ("COLUMNS", "LINES")}
    watch = subprocess.Popen(
        operator.argv("status", "--watch", "--service", "web"),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(terminal)
    raw = b""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not until(ANSI.sub("", raw.decode(errors="replace"))):
            if select.select([controller], [], [], 0.5)[0]:
                raw += os.read(controller, 65536)
        watch.send_signal(signal.SIGINT)
        code = watch.wait(timeout=15)
        while select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end closed
                break
            if not chunk:
                break
            raw += chunk
    finally:
        watch.kill()
        os.close(controller)
    return raw.decode(errors="replace"), code


def test_pause_resume_watch_and_promote_full_from_a_second_shell(operator: Operator) -> None:
    with steady_load(operator, rate=100, seconds=150):
        release = operator.start("release", "--auto", "--version", "2.0.0", "--bake", "60s")
        try:
            wait_for_intent(operator, Step.BAKE, timeout=60)
            # Some of the bake done first (about 8 s of judged data), so that going on from where it
            # stopped and starting again from 60 s cannot look alike.
            wait_until(
                "the bake published judged figures",
                lambda: [
                    n
                    for n in notes(operator, "bake-progress")
                    if n["requests"] and n["remaining_seconds"] <= 52
                ],
            )
            paused = operator.run("pause", "--reason", "checking a graph")
            assert paused.returncode == 0, paused.stdout + paused.stderr
            answered(
                operator,
                paused.stdout,
                "paused at 10%",
                lambda: [n for n in notes(operator, "held") if n.get("hold") == "paused"],
            )
            web = operator.status()
            assert (web["release"]["state"], web["release"]["hold"]) == ("held", "paused")
            stopped_at = wait_until(
                "a paused figure", lambda: [n for n in notes(operator, "bake-progress") if n["paused"]]
            )[0]["remaining_seconds"]
            bake = operator.status()["bake"]  # `status --json` shows the running bake's figures too
            assert bake["label"] == "canary 10%" and bake["paused"] is True and bake["requests"] > 0

            frames = {}
            for columns in (80, 160):
                frames[columns] = watch_in_a_terminal(operator, columns, lambda text: "PAUSED" in text)
            time.sleep(2)  # paused time, which must not count as baked

            resumed = operator.run("resume")
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            answered(operator, resumed.stdout, "resumed", lambda: notes(operator, "resumed"))
            seen = len(notes(operator, "bake-progress"))
            going_on = wait_until(
                "figures after the resume",
                lambda: [n for n in notes(operator, "bake-progress")[seen:] if not n["paused"]],
            )[0]
            # The bake went on from where it stopped, not from the start (60 s) again; the figures
            # may read a little more left just after the resume, as the metrics lag a scrape or two.
            assert going_on["remaining_seconds"] <= stopped_at + 5 < 60

            promoted = operator.run("promote", "--full", "--reason", "hotfix")
            assert promoted.returncode == 0, promoted.stdout + promoted.stderr
            output, _ = release.communicate(timeout=120)
        finally:
            release.kill()
    assert release.returncode == 0, output
    assert "ended by promote --full by" in output and "deployment log:" in output

    for columns, (text, code) in frames.items():
        assert code == 0, text
        plain = ANSI.sub("", text)
        lines = [line for line in re.split(r"\r\n|\n|\r", plain) if line.strip()]
        assert max(len(line) for line in lines) <= columns, (columns, plain)
        flat = " ".join(plain.split())
        for shown in ("sandbox/web", "held at 10% (paused)", "(PAUSED)", "requests, error rate", "lock"):
            assert shown in flat, (columns, shown, plain)
        assert "\x1b[1;33m (PAUSED)" in text  # in colour

    ten = gates_at(operator, 10)[-1]
    assert ten["ended_by"].startswith("promote --full by ") and ten["ended_by"].endswith("(hotfix)")
    assert ten["paused_seconds"] > 0
    assert [n["skipped"] for n in notes(operator, "steps-skipped")] == [[50]]
    assert gates_at(operator, 50) == []  # never baked at 50%
    web = operator.status()
    assert web["production"]["version"] == "2.0.0" and web["weights"] == {"stable": 1.0, "canary": 0.0}


def test_an_approval_step_holds_until_promote_and_promote_ends_a_bake(tmp_path: Path) -> None:
    operator = Operator(
        tmp_path / "state", fast(steps=[10, "approve", 50, 100], analysis={"interval_seconds": 0.5})
    )
    up = operator.run("sandbox.up")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        with steady_load(operator, rate=100, seconds=150):
            release = operator.start("release", "--auto", "--version", "2.0.0", "--bake", "10m")
            try:
                wait_for_intent(operator, Step.BAKE, timeout=60)
                ended = operator.run("promote", "--reason", "ship it")
                assert ended.returncode == 0 and "ended" in ended.stdout, ended.stdout + ended.stderr

                def held() -> bool:
                    return operator.status()["release"]["hold"] == "waiting for approval"

                wait_until("held for approval", held)
                web = operator.status()
                assert web["weights"] == {"stable": 0.9, "canary": 0.1}
                refused = operator.run("resume")
                assert refused.returncode == 3 and "`invoke promote` approves it" in refused.stderr
                approved = operator.run("promote", "--reason", "approved in chat")
                assert approved.returncode == 0 and "approved at 10%" in approved.stdout, approved.stdout
                wait_until("the 50% bake", lambda: baking_at(operator, 50))
                assert operator.run("promote").returncode == 0
                output, _ = release.communicate(timeout=120)
            finally:
                release.kill()
        assert release.returncode == 0, output
        assert "waiting for approval at 10%" in output and "approved at 10%" in output
        assert gates_at(operator, 10)[-1]["ended_by"].endswith("(ship it)")
        assert [n["approved_by"] for n in notes(operator, "approve") if "approved_by" in n]
        history = json.loads(operator.run("history", "--json").stdout)
        assert [(r["version"], r["outcome"]) for r in history] == [("2.0.0", "promoted")]
        nothing = operator.run("pause")
        assert nothing.returncode == 3 and "nothing to pause" in nothing.stderr
    finally:
        operator.run("sandbox.down")
