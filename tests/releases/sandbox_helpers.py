"""Running `invoke` against a real sandbox in a scratch state directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from releases.rehearsal.load import LoadGenerator
from releases.sandbox.datastores import missing_programs
from releases.state.holders import write_lock_holders
from tests.conftest import PROJECT_DIR
from tests.process_states import wait_until_stopped

needs_sandbox_programs = pytest.mark.skipif(
    shutil.which("haproxy") is None or shutil.which("prometheus") is None or bool(missing_programs()),
    reason="haproxy, prometheus, postgresql or redis-server is not installed (`./dev test` installs "
    "them; CI always has them)",
)

# Seconds instead of the sandbox's defaults, so that end-to-end tests stay short.
FAST = {
    "releases": {
        "sandbox": {
            "lease_seconds": 5,
            "health": {"consecutive": 2, "interval_seconds": 0.1, "timeout_seconds": 3},
            # A 5% limit passes on about 80 clean canary requests (1% needs about 390): these tests
            # are about the engine, under load (`steady_load`). On a busy machine the load can
            # stall for seconds, so a step holds only after 15 s without new evidence.
            "analysis": {
                "bake_seconds": 2,
                "interval_seconds": 0.5,
                "max_bake_seconds": 120,
                "max_idle_seconds": 15,
                "min_requests": 20,
                "max_error_rate": 0.05,
            },
            "verify_seconds": 1,
        }
    }
}


class Operator:
    """Types `invoke` commands against one state directory, as a person at a terminal would."""

    def __init__(self, state_dir: Path, config: dict[str, Any] | None = None) -> None:
        self.state_dir = state_dir
        self.config_file = state_dir / "invoke-test.yaml"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(config or FAST))
        self.env = {**os.environ, "PLATFORM_STATE_DIR": str(state_dir)}

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(PROJECT_DIR),
            "-f",
            str(self.config_file),
            *args,
        ]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )

    def run_skewed(self, offset: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`run` with this shell's clock moved by `offset` (libfaketime's form: `+1h`, `-10m`)."""
        return subprocess.run(
            ["faketime", "-f", offset, *self.argv(*args)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json", "--service", "web")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)["services"]["web"]


def fast(**sandbox: Any) -> dict[str, Any]:
    """FAST with some sandbox settings replaced (one level deep: `analysis={...}` merges)."""
    merged = {**FAST["releases"]["sandbox"]}
    for key, value in sandbox.items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return {"releases": {"sandbox": merged}}


def journal_rows(operator: Operator, query: str, *parameters: object) -> list[tuple[Any, ...]]:
    path = operator.state_dir / "journal.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=10) as connection:
        return connection.execute(query, parameters).fetchall()


def pause_between_writes(process: subprocess.Popen[str], operator: Operator) -> None:
    """SIGSTOP `process` at a moment it holds no write lock on the SQLite journal. Stopped inside a
    write, it would block every other command's writes until resumed: the rollback would fail
    after the busy timeout, naming the stopped process (tests/releases/state/test_holders.py)."""
    journal = operator.state_dir / "journal.sqlite"
    while True:
        process.send_signal(signal.SIGSTOP)
        wait_until_stopped(process.pid)
        if process.pid not in write_lock_holders(journal):
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.05)


def wait_for_intent(operator: Operator, step: str, timeout: float) -> None:
    """Until the journal shows that a release started `step` (a releases.plan.Step id)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_rows(operator, "SELECT 1 FROM events WHERE kind = 'intent' AND action = ?", step):
            return
        time.sleep(0.01)
    pytest.fail(f"the release never reached {step!r}")


def origin_headers(operator: Operator) -> dict[str, str]:
    """The origin credential the sandbox's HAProxy requires of every request."""
    from releases.sandbox.environment import Sandbox

    return Sandbox(operator.state_dir / "sandbox").origin_headers()


def public_url(operator: Operator, service: str = "web") -> str:
    topology = json.loads((operator.state_dir / "sandbox" / "topology.json").read_text())
    return topology["services"][service]["router"]["public_url"] + "/"


@contextmanager
def steady_load(operator: Operator, rate: float = 100, seconds: float = 180) -> Iterator[LoadGenerator]:
    """Users on the sandbox's web frontend while a test releases: the gates judge evidence, and
    with no traffic a release is held, not promoted. Bounded in requests and time."""
    generator = LoadGenerator(
        public_url(operator),
        rate=rate,
        max_requests=int(rate * seconds),
        max_seconds=seconds,
        headers=origin_headers(operator),
    )
    generator.start()
    try:
        yield generator
    finally:
        generator.stop()
