"""Starting and stopping the sandbox's processes, by pid, and waiting for them to listen."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psutil

from releases.errors import Refused
from releases.process_identity import ProcessIdentity, boot_id, identity_of, running_process
from releases.sandbox.state import ProcessRecord
from releases.state_files import UMASK, open_private_append

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0


class PortTaken(Refused):
    """A process could not listen: another took its port between the choice and the start."""


# Where listening ports are chosen: outside the kernel's ephemeral range, which every outgoing
# connection draws its local port from. A port the kernel handed out for `bind(0)` came from that
# range, and under load (a new connection per proxied request) an outgoing connection took it
# before the daemon it was meant for started.
FIRST_LISTENING_PORT = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def listening_port_candidates() -> list[int]:
    """Ports outside the ephemeral range (Linux's default range when it cannot be read), in a
    random order; any unprivileged port where the ephemeral range leaves too few outside it."""
    try:
        low, high = (int(bound) for bound in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    ports = [*range(FIRST_LISTENING_PORT, low), *range(high + 1, 65536)]
    if len(ports) < 1000:
        ports = list(range(1024, 65536))
    random.shuffle(ports)
    return ports


def free_ports(count: int) -> list[int]:
    """`count` ports nobody listens on right now on loopback, from `listening_port_candidates`
    (all held open until all are chosen, so none repeats). Another sandbox starting at the same
    moment may still choose one of them: `PortTaken` says so, and `Sandbox.up` starts again with
    new ports."""
    with ExitStack() as stack:
        chosen: list[int] = []
        for port in listening_port_candidates():
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise Refused(f"fewer than {count} free ports on 127.0.0.1")


def start(
    argv: list[str], log: Path, env: dict[str, str] | None = None, user: str | None = None
) -> ProcessRecord:
    """Start a process in a session of its own (it outlives the invoke command that started it),
    with `env` added to this process's environment, as `user` when given (root only)."""
    # The log 0600 and the process under umask 077: what it writes (Prometheus' database, HAProxy's
    # runtime socket) is private too (releases/state_files.py).
    with os.fdopen(open_private_append(log), "ab") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
            user=user,
            umask=UMASK,
        )
    identity = identity_of(process.pid)
    if identity is None:  # it exited at once: wait_listening reports its log
        identity = ProcessIdentity(process.pid, boot_id(), -1.0)
    return ProcessRecord(
        pid=process.pid, boot_id=identity.boot_id, start_ticks=identity.start_ticks, argv=argv, log=str(log)
    )


def _process(record: ProcessRecord) -> psutil.Process | None:
    """The recorded process if it still runs (same boot, pid and start ticks), else None."""
    return running_process(record.identity)


def is_running(record: ProcessRecord) -> bool:
    return _process(record) is not None


def stop(record: ProcessRecord, stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """`stop_signal`, then SIGKILL after a grace period; a process already gone is fine.

    The process may be a child of this very process (the rehearsal starts the sandbox and later
    restarts slots), in which case it lingers as a zombie until reaped: a zombie counts as stopped.
    """
    process = _process(record)
    if process is None:
        return
    try:
        process.send_signal(stop_signal)
        if not _wait_gone(process, STOP_TIMEOUT_SECONDS):
            process.kill()
            _wait_gone(process, STOP_TIMEOUT_SECONDS)
    except psutil.NoSuchProcess:
        return


def _wait_gone(process: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                process.wait(0)  # reaps it if it is our child; harmless otherwise
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            return True
        time.sleep(0.02)
    return False


def _log_tail(record: ProcessRecord, lines: int = 15) -> str:
    try:
        return "\n".join(Path(record.log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_accepting(
    name: str, record: ProcessRecord, connect: Callable[[], socket.socket], where: str, timeout: float
) -> None:
    """Return once `connect` succeeds; fail with the process's log if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            tail = _log_tail(record)
            # Each daemon says it in its own words, all of them with the system's.
            failure = PortTaken if "already in use" in tail.lower() else Refused
            raise failure(f"{name} exited while starting; its log ({record.log}) ends with:\n{tail}")
        try:
            with connect():
                return
        except OSError:
            time.sleep(0.05)
    raise Refused(f"{name} did not listen on {where} within {timeout:g} s; see {record.log}")


def _unix_connection(path: Path) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(0.5)
        connection.connect(str(path))
    except OSError:
        connection.close()
        raise
    return connection


def wait_for_socket(
    name: str, record: ProcessRecord, path: Path, timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Return once the process accepts connections on the unix socket `path`."""
    _wait_accepting(name, record, lambda: _unix_connection(path), str(path), timeout)


def wait_listening(
    name: str, record: ProcessRecord, port: int, timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Return once the process accepts connections on `port`; fail with its log if it dies (with
    `PortTaken` if another process has the port: an answer from that one does not count)."""

    def connect() -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        if not _listens(record, port):
            connection.close()
            raise ConnectionRefusedError(f"127.0.0.1:{port} answered, but not by {name}")
        return connection

    _wait_accepting(name, record, connect, f"127.0.0.1:{port}", timeout)


def _listens(record: ProcessRecord, port: int) -> bool:
    """Whether the recorded process itself listens on `port`."""
    try:
        sockets = psutil.Process(record.pid).net_connections(kind="inet")
    except psutil.AccessDenied:  # another user's process: the answer is taken as its own
        return True
    except psutil.NoSuchProcess:
        return False
    return any(s.status == psutil.CONN_LISTEN and s.laddr and s.laddr.port == port for s in sockets)
