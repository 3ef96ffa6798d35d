"""What can go wrong in a release, each with the exit code the operator sees.

The task layer maps these to `invoke` exits; the engine never prints or exits itself.
"""

from __future__ import annotations

from contract import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_GATE_FAILED, EXIT_HELD, EXIT_REFUSED


class ReleaseError(Exception):
    """Base class: a message for the operator and the exit code that goes with it, and the words
    the message starts with (`refused: ...`).

    The message is shown on the console and kept in the journal, so whatever URL it quotes loses
    its credentials here, once, for every error (releases/redact.py)."""

    exit_code = EXIT_FAILURE
    prefix = "failed"

    def __init__(self, *args: object) -> None:
        from releases.redact import redact_url

        super().__init__(*(redact_url(arg) if isinstance(arg, str) else arg for arg in args))


class BadInput(ReleaseError):
    """The command line or a file given to it is wrong. Nothing was changed."""

    exit_code = EXIT_BAD_INPUT
    prefix = "bad input"


class Refused(ReleaseError):
    """A precondition is not met (lock held, staging unhealthy, nothing in flight, sandbox down).
    Nothing was changed."""

    exit_code = EXIT_REFUSED
    prefix = "refused"


class TargetUnavailable(Refused):
    """A cloud endpoint could not be reached, rejected the credentials or is rate-limiting us,
    and the call was given up. The call that failed changed nothing."""

    prefix = "unavailable"


class Superseded(Refused):
    """This command's lock was taken over (by `invoke rollback` from another shell, or after its
    lease ran out while it was paused): it stopped before its next write."""

    prefix = "stopped"


class JournalUnavailable(ReleaseError):
    """The journal could not be read or written (busy past its timeout, disk full). Every action
    is journaled before it runs, so nothing was done past the last journaled step."""

    exit_code = EXIT_FAILURE
    prefix = "journal unavailable"


class Held(ReleaseError):
    """The release is held: traffic unchanged, waiting for an operator (the evidence never
    sufficed to judge the canary)."""

    exit_code = EXIT_HELD
    prefix = "held"


class Interrupted(ReleaseError):
    """SIGINT or SIGTERM during a step: journaled, lock released, traffic where it was."""

    prefix = "interrupted"

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler (releases/signals.py), so that a
    termination unwinds like Ctrl-C does and the engine can journal it."""


class GateFailed(ReleaseError):
    """A gate failed during a step; the release was rolled back (or held, with --hold)."""

    exit_code = EXIT_GATE_FAILED
    prefix = "gate failed"


class VerificationFailed(ReleaseError):
    """A write was read back and the world does not match what was written."""

    exit_code = EXIT_FAILURE
    prefix = "verification failed"
