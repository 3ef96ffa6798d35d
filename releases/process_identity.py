"""Is a recorded process still the very process that was recorded? (Used by the lock and the sandbox.)

A pid alone is reused by the kernel, so a process is named by (boot, pid, start ticks): the boot's
id, and the process's start time in clock ticks since boot, as the kernel keeps it in
`/proc/<pid>/stat`. Both are fixed for the life of the process and neither moves when the wall
clock is stepped (psutil's `create_time()` is boot time *computed from the wall clock* plus those
ticks, so an NTP correction of a few seconds made every live process look like a stranger).

On a system without /proc (a macOS laptop) the identity falls back to psutil's start time with a
one-second tolerance, which a clock step can fool; the sandbox and the state store's lease clock
are documented as Linux-first.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import psutil

PROC = Path("/proc")
# psutil reports start times with a resolution coarser than a second on some systems (fallback only).
START_TIME_TOLERANCE_SECONDS = 1.0


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    boot_id: str
    # Clock ticks since boot on Linux; on other systems the start time in seconds since the epoch.
    start_ticks: float


@functools.cache
def boot_id() -> str:
    """This boot's id: a process recorded under another boot is certainly gone."""
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"boot-{psutil.boot_time():.0f}"


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name, which may hold spaces and parentheses."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def identity_of(pid: int) -> ProcessIdentity | None:
    """The identity of the running process `pid`, or None when there is none (or a zombie)."""
    if PROC.joinpath("self/stat").exists():
        fields = _stat_fields(pid)
        # fields[0] is the state (field 3 of stat), fields[19] the start time (field 22).
        if fields is None or fields[0] == "Z":
            return None
        return ProcessIdentity(pid, boot_id(), float(fields[19]))
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return ProcessIdentity(pid, boot_id(), process.create_time())
    except psutil.Error:
        return None


def current() -> ProcessIdentity:
    identity = identity_of(psutil.Process().pid)
    assert identity is not None  # this very process is running
    return identity


def is_running(recorded: ProcessIdentity) -> bool:
    """Whether `recorded` still runs: same boot, same pid, same start (not a later process that
    reuses the pid), and not a zombie."""
    live = identity_of(recorded.pid)
    if live is None or live.boot_id != recorded.boot_id:
        return False
    if PROC.joinpath("self/stat").exists():
        return live.start_ticks == recorded.start_ticks
    return abs(live.start_ticks - recorded.start_ticks) <= START_TIME_TOLERANCE_SECONDS


def running_process(recorded: ProcessIdentity) -> psutil.Process | None:
    """The psutil handle of `recorded` if it still runs (to signal or wait for it), else None."""
    if not is_running(recorded):
        return None
    try:
        return psutil.Process(recorded.pid)
    except psutil.Error:
        return None
