"""The team state store against the local one: journal writes per release step, and `invoke status`.

    .venv/bin/python benchmarks/state_store.py [--steps 100] [--status-runs 40]

Starts a PostgreSQL cluster of its own (127.0.0.1, a scratch directory) and a scratch sandbox, then
measures on the same machine, for a SQLite file and for a PostgreSQL database:

- the journal writes of one release step as the engine makes them while it holds the lock (each a
  fenced transaction: the lease row checked, and locked on PostgreSQL, then written): the step's
  intent, its percentage, its outcome, the gate's verdict with its figures, and the bake's outcome;
- `invoke status` (one process each: import, settings, topology, HAProxy's weights, the journal and
  the lock), wall time.

Target: PostgreSQL within 50 ms of SQLite for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # run as a script from anywhere

from releases.journal import EventKind, Journal
from releases.lock import ReleaseLock
from releases.plan import Step
from releases.state.store import StateStore
from tests.state_stores import running_postgres, upgraded


def step_writes(journal: Journal, steps: int) -> list[float]:
    """Milliseconds per step's journal writes, under the lock (so every write is fenced)."""
    times = []
    with ReleaseLock(journal, "sandbox", "bench", lease_seconds=60):
        record = journal.start_release("sandbox", "bench", "2.0.0", "1.0.0")
        for index in range(steps):
            started = time.perf_counter()
            journal.record("sandbox", "bench", EventKind.INTENT, Step.WEIGHTS, record.id, percent=10)
            journal.set_percent(record, 10 + index % 40)
            journal.record("sandbox", "bench", EventKind.OUTCOME, Step.WEIGHTS, record.id, canary=0.1)
            journal.record(
                "sandbox",
                "bench",
                EventKind.GATE,
                Step.BAKE,
                record.id,
                verdict="pass",
                reasons=["error rate 0.10% within 1.00%"],
                error_rate=0.001,
                p95=0.12,
            )
            journal.record("sandbox", "bench", EventKind.OUTCOME, Step.BAKE, record.id, verdict="pass")
            times.append((time.perf_counter() - started) * 1000)
    return times


def status_times(state_dir: Path, urls: dict[str, str], runs: int) -> dict[str, list[float]]:
    """Wall milliseconds of `invoke status --json` per store, the stores taking turns run by run
    (so that a busy moment of the machine falls on both alike, and `paired_gap` can compare each
    PostgreSQL run with the SQLite run beside it)."""
    command = [sys.executable, "-m", "invoke", "--search-root", str(PROJECT), "status", "--json"]
    times: dict[str, list[float]] = {name: [] for name in urls}
    for run in range(runs + 1):  # the first round warms the page cache and is not counted
        for name, url in urls.items():
            environment = {**os.environ, "PLATFORM_STATE_DIR": str(state_dir), "PLATFORM_STATE_URL": url}
            started = time.perf_counter()
            completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
            elapsed = (time.perf_counter() - started) * 1000
            if completed.returncode != 0:
                raise SystemExit(f"invoke status failed: {completed.stderr.strip()}")
            if run > 0:
                times[name].append(elapsed)
    return times


def driver_import_times(runs: int) -> dict[str, list[float]]:
    """What part of the difference no store can avoid: a new process importing the SQL layer with
    the SQLite driver, and with the PostgreSQL one (psycopg)."""
    imports = {
        "sqlite": "import sqlalchemy.dialects.sqlite.pysqlite, sqlite3",
        "postgresql": "import sqlalchemy.dialects.postgresql.psycopg, psycopg",
    }
    times: dict[str, list[float]] = {name: [] for name in imports}
    for _ in range(runs):
        for name, code in imports.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def paired_gap(postgresql: list[float], sqlite: list[float]) -> tuple[float, float, float]:
    """PostgreSQL minus SQLite, run by run: (median, first quartile, third quartile). A second
    process's burst of work slows one pair, not the comparison of every pair, so this is the figure
    the target is judged by; the difference of the two medians is printed beside it."""
    quartiles = statistics.quantiles([p - s for p, s in zip(postgresql, sqlite, strict=True)], n=4)
    return quartiles[1], quartiles[0], quartiles[2]


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--status-runs", type=int, default=40)
    arguments = parser.parse_args()
    if arguments.steps < 1 or arguments.status_runs < 2:
        parser.error("--steps must be at least 1 and --status-runs at least 2 (quartiles need two)")
    with (
        tempfile.TemporaryDirectory(prefix="bench-state-") as scratch,
        running_postgres(Path(scratch)) as cluster,
    ):
        root = Path(scratch)
        state_dir = root / "state"
        urls = {
            "sqlite": f"sqlite:///{state_dir / 'journal.sqlite'}",
            "postgresql": upgraded(cluster.new_database()),
        }
        results: dict[str, dict[str, list[float]]] = {}
        for name, url in urls.items():
            store = StateStore(url)
            results[name] = {"step": step_writes(Journal(store, "bench"), arguments.steps)}
            store.close()
        base = [sys.executable, "-m", "invoke", "--search-root", str(PROJECT)]
        environment = {**os.environ, "PLATFORM_STATE_DIR": str(state_dir)}
        subprocess.run([*base, "sandbox.up"], env=environment, capture_output=True, check=True)
        try:
            for name, measured in status_times(state_dir, urls, arguments.status_runs).items():
                results[name]["status"] = measured
        finally:
            subprocess.run([*base, "sandbox.down"], env=environment, capture_output=True, check=False)

    print(f"journal writes per release step (5 fenced transactions), {arguments.steps} steps:")
    for name in urls:
        print(f"  {name:<11} {summary(results[name]['step'])}")
    print(f"invoke status --json (sandbox, one process per run), {arguments.status_runs} runs:")
    for name in urls:
        print(f"  {name:<11} {summary(results[name]['status'])}")
    imports = driver_import_times(arguments.status_runs)
    print(f"a new process importing the SQL layer and the driver, {arguments.status_runs} runs:")
    for name in urls:
        print(f"  {name:<11} {summary(imports[name])}")
        results[name]["import"] = imports[name]
    of_medians = {
        what: statistics.median(results["postgresql"][what]) - statistics.median(results["sqlite"][what])
        for what in ("step", "status", "import")
    }
    # The step writes run store after store (one lock each), so they are compared by their medians.
    verdict = "within" if of_medians["step"] <= 50 else "NOT within"
    step = of_medians["step"]
    print(f"step: PostgreSQL - SQLite = {step:+.2f} ms (of medians), {verdict} the 50 ms target")
    for what in ("status", "import"):
        gap, low, high = paired_gap(results["postgresql"][what], results["sqlite"][what])
        verdict = "within" if gap <= 50 else "NOT within"
        target = "" if what == "import" else f", {verdict} the 50 ms target"
        print(
            f"{what}: PostgreSQL - SQLite = {gap:+.2f} ms (median of pairs; quartiles {low:+.2f} to "
            f"{high:+.2f}; of medians {of_medians[what]:+.2f}){target}"
        )


if __name__ == "__main__":
    main()
