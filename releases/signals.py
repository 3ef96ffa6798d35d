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
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from types import FrameType
from typing import Any

from contract import EXIT_INTERRUPTED, EXIT_TERMINATED
from releases.errors import Terminated

HANDLED = (signal.SIGINT, signal.SIGTERM)
# How long a postponed SIGINT or SIGTERM waits before the operator is told what it waits for.
NOTICE_AFTER_SECONDS = 1.0


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
    """Swallow SIGINT and SIGTERM while an interruption is journaled and the lock released: a
    second Ctrl-C must not cut that short and leave the lock to its lease. Unless the state store
    does not answer: as in `postponed`, the operator is told, and one more signal gives up on the
    store (the lock is then left to its lease, and the interruption says so). Ctrl-Z waits for the
    block's end."""
    return _postponing(abandon=None, swallow=True)


def postponed(abandon: Callable[[], None] | None = None) -> AbstractContextManager[None]:
    """Hold SIGINT, SIGTERM and SIGTSTP back until the block ends, then act on them: for writes
    that must happen back to back (the promotion's swap and weights reset), where stopping in
    between would leave canary traffic on the previous version, and for every journal write
    transaction, which a signal must not cut in the driver's middle (it left SQLite's write lock
    held by a connection nobody closed, and the interruption's own note then waited for it in
    vain). Ctrl-Z stops the process once the block is over, even if it failed: stopped inside it,
    the process would hold SQLite's write lock, and every other command, a rollback too, would
    wait for it until it is resumed.

    A block that can be given up on (`abandon`: an operation on a state store that may not answer)
    is abandoned by a SIGINT or SIGTERM after the operator was told what it waits for: `abandon`
    is called at once, and the block's failure is then reported as the interruption it is. A block
    that fails after a signal reports the signal too: the operator asked to stop, and the engine's
    interruption says where traffic is.

    In a thread other than the main one (where signals are not delivered) the block holds
    `_thread_writes` instead, which Ctrl-Z's handler waits for. Inside a `postponed` or `deferred`
    block an inner one only lends it its `abandon` (the outer acts at its end); where a signal is
    ignored, it is left alone."""
    return _postponing(abandon, swallow=False)


class _Postponing:
    """A handler that keeps the signals it gets for later (one per block). A second after the
    first SIGINT or SIGTERM, if the block is still going, the operator is told what it waits for;
    one after that abandons the block, if it can be abandoned (so that pressing Ctrl-C a few times
    in a row never gives up on a store that answers, however briefly it is waited for)."""

    def __init__(self, abandon: Callable[[], None] | None) -> None:
        self.received: list[int] = []
        self.abandon = abandon
        self.abandoned = False
        self._told = False
        self._notice: threading.Timer | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if signum == signal.SIGTSTP:
            return
        name = signal.Signals(signum).name
        if self._told and self.abandon is not None and not self.abandoned:
            self.abandoned = True
            _say(f"{name} again: giving up on the state store.")
            self.abandon()
        elif self._notice is None:
            self._notice = threading.Timer(NOTICE_AFTER_SECONDS, self._tell_what_it_waits_for, [name])
            self._notice.daemon = True
            self._notice.start()

    def interruptions(self) -> list[int]:
        return [number for number in self.received if number != signal.SIGTSTP]

    def _tell_what_it_waits_for(self, name: str) -> None:
        self._told = True
        if self.abandon is None:
            _say(f"{name}: finishing the writes under way first.")
        else:
            _say(
                f"{name}: waiting for the state store to answer first (a journal write is never cut "
                "in its middle); SIGINT or SIGTERM again gives up on it."
            )

    def finish(self) -> None:
        if self._notice is not None:
            self._notice.cancel()

    @contextmanager
    def abandoning(self, abandon: Callable[[], None] | None) -> Iterator[None]:
        """For a block inside this one: a signal after the notice abandons the inner block."""
        outer, self.abandon = self.abandon, abandon or self.abandon
        try:
            yield
        finally:
            self.abandon = outer


def _say(text: str) -> None:
    # Straight to the file descriptor: from a signal handler, sys.stderr may be in the middle of a
    # write of the main thread's own (a reentrant call there raises).
    with suppress(OSError):
        os.write(sys.stderr.fileno(), (text + "\n").encode())


@contextmanager
def _postponing(abandon: Callable[[], None] | None, swallow: bool) -> Iterator[None]:
    if not _main_thread():
        if swallow:
            yield
            return
        with _thread_writes:
            yield
        return
    outer = _outer_block()
    if outer is not None:
        with outer.abandoning(abandon):
            yield
        return
    held = [number for number in (*HANDLED, signal.SIGTSTP) if _may_hold(number)]
    if not held:
        yield
        return
    postponing = _Postponing(abandon)
    try:
        with _handling(dict.fromkeys(held, postponing)):
            yield
    except Exception as failure:
        if postponing.interruptions() and not swallow:
            raise _interruption(postponing.interruptions()[0]) from failure
        raise
    finally:
        postponing.finish()
        if signal.SIGTSTP in postponing.received:
            os.kill(os.getpid(), signal.SIGTSTP)  # to the handler it had before: stop, now
    if postponing.interruptions() and not swallow:
        raise _interruption(postponing.interruptions()[0])


def _outer_block() -> _Postponing | None:
    for number in (*HANDLED, signal.SIGTSTP):
        handler = signal.getsignal(number)
        if isinstance(handler, _Postponing):
            return handler
    return None


def _interruption(signum: int) -> BaseException:
    return Terminated(signal.SIGTERM) if signum == signal.SIGTERM else KeyboardInterrupt()


def _may_hold(number: int) -> bool:
    """Not if it is ignored (a background job's SIGINT)."""
    return signal.getsignal(number) != signal.SIG_IGN


def exit_code(interruption: BaseException) -> int:
    """130 for SIGINT (KeyboardInterrupt), 143 for SIGTERM, as a shell reports them."""
    return EXIT_TERMINATED if isinstance(interruption, Terminated) else EXIT_INTERRUPTED


def signal_name(interruption: BaseException) -> str:
    return "SIGTERM" if isinstance(interruption, Terminated) else "SIGINT"
