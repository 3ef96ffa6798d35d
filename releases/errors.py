"""What can go wrong in a release, each with the exit code the operator sees.

The task layer maps these to `invoke` exits; the engine never prints or exits itself.
"""

from __future__ import annotations

EXIT_DONE = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_GATE_FAILED = 4
EXIT_HELD = 5


class ReleaseError(Exception):
    """Base class: a message for the operator and the exit code that goes with it."""

    exit_code = EXIT_FAILURE


class BadInput(ReleaseError):
    """The command line or a file given to it is wrong. Nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class Refused(ReleaseError):
    """A precondition is not met (lock held, staging unhealthy, nothing in flight, sandbox down).
    Nothing was changed."""

    exit_code = EXIT_REFUSED


class TargetUnavailable(Refused):
    """A cloud endpoint could not be reached, rejected the credentials or is rate-limiting us,
    and the call was given up. The call that failed changed nothing."""


class Held(ReleaseError):
    """The release is held: traffic unchanged, waiting for an operator (evidence too thin to
    judge, or a gate failed past an irreversible migration)."""

    exit_code = EXIT_HELD


class GateFailed(ReleaseError):
    """A gate failed during a step; the release was rolled back (or held, with --hold)."""

    exit_code = EXIT_GATE_FAILED


class VerificationFailed(ReleaseError):
    """A write was read back and the world does not match what was written."""

    exit_code = EXIT_FAILURE
