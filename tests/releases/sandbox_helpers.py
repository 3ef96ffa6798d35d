"""Running `invoke` against a real sandbox in a scratch state directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from releases.rehearsal.load import LoadGenerator
from releases.sandbox.datastores import missing_programs
from tests.conftest import PROJECT_DIR

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

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json", "--service", "web")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)["services"]["web"]


@contextmanager
def steady_load(operator: Operator, rate: float = 100, seconds: float = 180) -> Iterator[LoadGenerator]:
    """Open-loop load through the sandbox's router (127.0.0.1 only), bounded in time and count:
    a step passes on the evidence its traffic brings."""
    topology = json.loads((operator.state_dir / "sandbox" / "topology.json").read_text())
    load = LoadGenerator(topology["services"]["web"]["router"]["public_url"] + "/", rate=rate,
                         max_requests=int(rate * seconds), max_seconds=seconds)  # fmt: skip
    load.start()
    try:
        yield load
    finally:
        load.stop()
