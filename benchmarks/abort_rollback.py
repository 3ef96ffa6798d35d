"""Abort from a second shell: how long from `invoke rollback` to users seeing only stable.

    .venv/bin/python benchmarks/abort_rollback.py [--runs 3] [--rate 200]

A scratch sandbox (its own state directory, 127.0.0.1 only) under steady load; for each run,
`invoke release --auto` of a new version in one process, waiting in its 10% bake, then
`invoke rollback` from another. Reports, per run: the rollback command's wall time, the seconds
from its start until the last response from the canary version (measured from the load's own
samples: the send time of the first request after the canary's last answer), and how soon and
with what exit code the displaced release stopped. Target (the interruption-safety issue): under
2 s from the rollback's start to only stable-version responses.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # run as a script from anywhere

from releases.rehearsal import measures
from releases.rehearsal.load import LoadGenerator
from releases.sandbox.environment import Sandbox

CONFIG = {
    "releases": {
        "sandbox": {
            "lease_seconds": 5,
            "health": {"consecutive": 2, "interval_seconds": 0.1, "timeout_seconds": 10},
            "analysis": {"bake_seconds": 120, "interval_seconds": 1},
        }
    }
}


def invoke(state: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", "--search-root", str(PROJECT), "-f", str(config), *args]


def wait_for_bake(journal: Path, version: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            with sqlite3.connect(journal, timeout=10) as connection:
                if connection.execute(
                    "SELECT 1 FROM events e JOIN releases r ON e.release_id = r.id"
                    " WHERE e.kind = 'intent' AND e.action = 'bake' AND r.version = ?",
                    (version,),
                ).fetchone():
                    return
        time.sleep(0.02)
    raise SystemExit(f"the release of {version} never reached its bake")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abort-bench-") as scratch:
        state = Path(scratch) / "state"
        state.mkdir()
        config = state / "invoke.yaml"
        config.write_text(yaml.safe_dump(CONFIG))
        env = {**os.environ, "PLATFORM_STATE_DIR": str(state)}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                invoke(state, config, *args), env=env, capture_output=True, text=True, check=False
            )

        up = run("sandbox.up")
        if up.returncode != 0:
            raise SystemExit(up.stdout + up.stderr)
        rows = []
        try:
            topology = json.loads((state / "sandbox" / "topology.json").read_text())
            url = topology["services"]["web"]["router"]["public_url"] + "/"
            for number in range(1, options.runs + 1):
                version = f"2.0.{number}"
                load = LoadGenerator(
                    url,
                    options.rate,
                    int(options.rate * 300),
                    300,
                    headers=Sandbox(state / "sandbox").origin_headers(),
                )
                load.start()
                release = subprocess.Popen(
                    invoke(state, config, "release", "--auto", "--version", version),
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                wait_for_bake(state / "journal.sqlite", version)
                time.sleep(2)  # users on the canary for a while
                started = time.time()
                rollback = run("rollback")
                finished = time.time()
                release.communicate(timeout=60)
                stopped = time.time()
                time.sleep(3)
                load.stop()
                gone = measures.seconds_until_gone(load.samples, version, started)
                rows.append(
                    (
                        number,
                        rollback.returncode,
                        finished - started,
                        gone,
                        release.returncode,
                        stopped - started,
                    )
                )
        finally:
            run("sandbox.down")
    print(
        f"{'run':>3} {'rollback exit':>13} {'rollback s':>10} {'only stable after s':>19} "
        f"{'displaced exit':>14} {'displaced stopped s':>19}"
    )
    for number, code, seconds, gone, displaced, stopped in rows:
        gone_text = f"{gone:.3f}" if gone is not None else "never"
        print(f"{number:>3} {code:>13} {seconds:>10.3f} {gone_text:>19} {displaced:>14} {stopped:>19.3f}")
    gones = [row[3] for row in rows if row[3] is not None]
    if gones:
        print(f"median seconds until only stable: {statistics.median(gones):.3f} (target < 2)")


if __name__ == "__main__":
    main()
