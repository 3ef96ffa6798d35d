"""Is a recorded pid still the process that was recorded? (Used by the lock and the sandbox.)"""

from __future__ import annotations

import psutil

# psutil reports start times from /proc with a resolution coarser than a second on some systems.
START_TIME_TOLERANCE_SECONDS = 1.0


def running_process(pid: int, started_at: float) -> psutil.Process | None:
    """The process `pid` if it is the very one that started at `started_at` (not a later one
    reusing the pid) and has not exited (a zombie has); otherwise None."""
    try:
        process = psutil.Process(pid)
        if (
            abs(process.create_time() - started_at) > START_TIME_TOLERANCE_SECONDS
            or process.status() == psutil.STATUS_ZOMBIE
        ):
            return None
    except psutil.Error:
        return None
    return process
