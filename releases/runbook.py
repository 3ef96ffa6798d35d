"""The runbook's checks around a release, beyond traffic and metrics: required secrets, the
migration command and smoke tests (docs/operations.md).

Each returns what it found or raises the error the operator should see; the engine decides when
each runs (before any traffic moves, or right after the promotion) and journals the outcome.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

from pydantic import SecretStr

from releases.errors import GateFailed, Refused, TargetUnavailable
from releases.redact import mask
from releases.settings import Migrations, SmokeTests
from releases.targets.secrets.protocol import SecretStore
from releases.targets.slots.protocol import SlotPair

OUTPUT_TAIL_LINES = 12


def check_secrets(store: SecretStore | None, required: tuple[str, ...], slots: SlotPair) -> None:
    """Every required secret present in the store, and no unresolved secret reference in the staging
    slot's settings. Names only are read and reported, never values."""
    problems = []
    if required:
        if store is None:
            raise Refused(
                f"{len(required)} secret(s) are required but the environment describes no secret store "
                "(the topology's `secrets`); nothing was changed"
            )
        missing = sorted(set(required) - store.names())
        if missing:
            problems.append(f"missing from {store}: {', '.join(missing)}")
    unresolved = slots.unresolved_references()
    if unresolved:
        problems.append(
            f"the staging slot's setting(s) {', '.join(sorted(unresolved))} hold an unresolved Key Vault "
            "reference (the app would read the literal `@Microsoft.KeyVault(...)`)"
        )
    if problems:
        raise Refused(f"pre-flight failed: {'; '.join(problems)}. Nothing was changed")


@dataclass(frozen=True)
class MigrationRun:
    seconds: float
    output: str  # the command's last lines, every secret masked


def store_values(store: SecretStore | None) -> list[str]:
    """Every value of the secret store, to mask them in a command's output. A value that cannot be
    read (deleted meanwhile) is skipped: its absence is the pre-flight's concern, not this one's."""
    if store is None:
        return []
    values = []
    for name in sorted(store.names()):
        try:
            values.append(store.value(name).get_secret_value())
        except (Refused, OSError):
            continue
    return values


def _tail(text: str, secrets: list[str]) -> str:
    """The last lines of a command's output with every secret masked (releases/redact.py): each
    value of the secret store, whole or as the password inside it, and every password found in a
    URL or a libpq DSN, so a command that prints its DSN in another form leaks nothing either."""
    lines = mask(text, secrets).strip().splitlines()
    return "\n".join(lines[-OUTPUT_TAIL_LINES:])


def _run(
    command: tuple[str, ...], variables: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """A configured command with `variables` added to our environment, its output captured."""
    return subprocess.run(
        list(command),
        env={**os.environ, **variables},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_migration(
    settings: Migrations, database_url: SecretStr, version: str, store: SecretStore | None = None
) -> MigrationRun:
    """Run the migration command once, with `DATABASE_URL` and `RELEASE_VERSION`. A failure (exit
    status, timeout, command not found) raises `GateFailed`: nothing has been deployed yet. Its
    output is masked (the database URL and every value of `store`) before it is shown or kept."""
    url = database_url.get_secret_value()
    secrets = [url, *store_values(store)]
    started = time.monotonic()
    try:
        completed = _run(
            settings.command, {"DATABASE_URL": url, "RELEASE_VERSION": version}, settings.timeout_seconds
        )
    except FileNotFoundError:
        raise GateFailed(
            f"the migration command {settings.command[0]!r} was not found; nothing was deployed and no "
            "traffic moved"
        ) from None
    except subprocess.TimeoutExpired as error:
        # On a timeout the captured output comes back as bytes, whatever `text` asked for.
        captured = [
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (error.output, error.stderr)
        ]
        output = _tail("".join(captured), secrets)
        raise GateFailed(
            f"the migration did not finish within {settings.timeout_seconds:g} s and was stopped; nothing "
            f"was deployed and no traffic moved. Its output ends with:\n{output}"
        ) from None
    output = _tail(completed.stdout + completed.stderr, secrets)
    if completed.returncode != 0:
        raise GateFailed(
            f"the migration failed (exit {completed.returncode}); nothing was deployed and no traffic "
            f"moved. Its output ends with:\n{output}"
        )
    return MigrationRun(seconds=time.monotonic() - started, output=output)


def smoke_test(
    slots: SlotPair, smoke: SmokeTests, staging: bool, store: SecretStore | None = None
) -> list[str]:
    """Run the configured checks against one slot; the reasons it failed (empty: passed). The
    smoke command's output is masked like the migration's (`store`'s values, URL and DSN
    passwords)."""
    which = "staging" if staging else "production"
    reasons = []
    for check in smoke.checks:
        try:
            status, body = slots.fetch(staging, check.path, smoke.timeout_seconds)
        except TargetUnavailable as error:
            reasons.append(f"GET {check.path} on {which}: {error}")
            continue
        if status != check.status:
            reasons.append(f"GET {check.path} on {which} answered {status}, expected {check.status}")
        elif check.contains is not None and check.contains not in body:
            reasons.append(f"GET {check.path} on {which}: the body does not contain {check.contains!r}")
    if smoke.command:
        reasons.extend(_smoke_command(slots, smoke, staging, which, store))
    return reasons


def _smoke_command(
    slots: SlotPair, smoke: SmokeTests, staging: bool, which: str, store: SecretStore | None
) -> list[str]:
    url = slots.url(staging)
    if url is None:
        return [
            f"the smoke command needs the {which} slot's URL, which this slot pair does not have; "
            "use HTTP checks (smoke.checks) instead"
        ]
    try:
        completed = _run(smoke.command, {"SMOKE_URL": url}, smoke.timeout_seconds)
    except FileNotFoundError:
        return [f"the smoke command {smoke.command[0]!r} was not found"]
    except subprocess.TimeoutExpired:
        return [f"the smoke command did not finish within {smoke.timeout_seconds:g} s on {which}"]
    if completed.returncode != 0:
        output = _tail(completed.stdout + completed.stderr, store_values(store))
        last = output.splitlines()[-1:] or ["(no output)"]
        return [f"the smoke command failed on {which} (exit {completed.returncode}): {last[0]}"]
    return []
