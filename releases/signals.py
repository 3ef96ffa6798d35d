"""SIGINT and SIGTERM as exceptions the engine can journal, and a quiet moment to do so (which
Ctrl-Z's SIGTSTP waits for too).

Python turns SIGINT into KeyboardInterrupt; SIGTERM (what CI runners and `kill` send) would end
the process on the spot, with nothing journaled and the lock left to expire. Inside
`interruptible()` it raises `Terminated` instead, so both unwind the same way: the engine journals
the interruption, releases the lock and says where traffic is (releases/engine.py).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any

from contract import EXIT_INTERRUPTED, EXIT_TERMINATED
from releases.errors import Terminated

HANDLED = (signal.SIGINT, signal.SIGTERM)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _handling(handlers: dict[int, Any]) -> Iterator[None]:
    """`handlers` for the block, the previous ones restored after (main thread only: Python
    delivers signals there, and only there may handlers be set)."""
    if not _main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in handlers}
    for number, handler in handlers.items():
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


# Held by a thread other than the main one (the lease heartbeat) for each of its journal writes:
# Ctrl-Z's handler waits for it, so the process never stops with that write half done.
_thread_writes = threading.Lock()


def _stop_between_writes(signum: int, frame: FrameType | None) -> None:
    """Ctrl-Z (SIGTSTP) in a command: stop as Ctrl-Z does, once no other thread is in the middle
    of a journal write (the main thread's writes hold the signal back themselves: `postponed`)."""
    with _thread_writes:
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # the process stops here, and goes on from here
        signal.signal(signal.SIGTSTP, _stop_between_writes)


def interruptible() -> AbstractContextManager[None]:
    """SIGTERM raises `Terminated` and SIGINT `KeyboardInterrupt` in the main thread; SIGTSTP
    (Ctrl-Z) stops the process between journal writes, never in the middle of one."""
    return _handling(
        {
            signal.SIGTERM: _raise_terminated,
            signal.SIGINT: signal.default_int_handler,
            signal.SIGTSTP: _stop_between_writes,
        }
    )


def deferred() -> AbstractContextManager[None]:
    """Ignore SIGINT and SIGTERM while an interruption is journaled and the lock released: a
    second Ctrl-C must not cut that short and leave the lock to its lease."""
    return _handling(dict.fromkeys(HANDLED, signal.SIG_IGN))


class _Postponing:
    """A handler that keeps the signals it gets for later (one per `postponed` block)."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)


@contextmanager
def postponed() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGTSTP back until the block ends, then act on them: for writes
    that must happen back to back (the promotion's swap and weights reset), where stopping in
    between would leave canary traffic on the previous version, and for every journal write
    transaction, which a signal must not cut in the driver's middle (it left SQLite's write lock
    held by a connection nobody closed, and the interruption's own note then waited for it in
    vain). Ctrl-Z stops the process once the block is over, even if it failed: stopped inside it,
    the process would hold SQLite's write lock, and every other command, a rollback too, would
    wait for it until it is resumed.

    In a thread other than the main one (where signals are not delivered) the block holds
    `_thread_writes` instead, which Ctrl-Z's handler waits for. Inside a `postponed` block an inner
    one changes nothing (the outer acts at its end); inside `deferred`, or where a signal is
    ignored, that signal is left alone."""
    if not _main_thread():
        with _thread_writes:
            yield
        return
    held = [number for number in (*HANDLED, signal.SIGTSTP) if _may_hold(number)]
    if not held:
        yield
        return
    postponing = _Postponing()
    try:
        with _handling(dict.fromkeys(held, postponing)):
            yield
    finally:
        if signal.SIGTSTP in postponing.received:
            os.kill(os.getpid(), signal.SIGTSTP)  # to the handler it had before: stop, now
    interruptions = [number for number in postponing.received if number != signal.SIGTSTP]
    if interruptions:
        if interruptions[0] == signal.SIGTERM:
            raise Terminated(signal.SIGTERM)
        raise KeyboardInterrupt


def _may_hold(number: int) -> bool:
    """Not if an outer `postponed` block holds it already, nor if it is ignored (`deferred`)."""
    current = signal.getsignal(number)
    return not isinstance(current, _Postponing) and current != signal.SIG_IGN


def exit_code(interruption: BaseException) -> int:
    """130 for SIGINT (KeyboardInterrupt), 143 for SIGTERM, as a shell reports them."""
    return EXIT_TERMINATED if isinstance(interruption, Terminated) else EXIT_INTERRUPTED


def signal_name(interruption: BaseException) -> str:
    return "SIGTERM" if isinstance(interruption, Terminated) else "SIGINT"
