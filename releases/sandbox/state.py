"""What the sandbox remembers about itself, in `<state>/sandbox/sandbox.json`: the ports it
chose, the processes it started (pid and start time, so that `down` never kills a stranger that
reused a pid) and what each slot process runs."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from releases.process_identity import ProcessIdentity
from releases.state_files import open_private_append, private_directory, write_private

SERVICES = ("web", "api")
COLOURS = ("blue", "green")
# At start-up `blue` is every service's production slot and `green` its staging slot.
INITIAL_PRODUCTION = "blue"
BASELINE_VERSION = "1.0.0"
# Headers between HAProxy, the demo app and the load generator: HAProxy names the server (the
# pool) it picked (`http-send-name-header`); the app names its version and marks injected faults.
POOL_HEADER = "X-Pool"
FAULT_HEADER = "X-Fault-Injected"
VERSION_HEADER = "X-App-Version"
# The origin credential (docs/security.md): the header Cloudflare's transform rule adds to every
# request for the zone, and the secret store's name for its value. HAProxy refuses requests
# without it, as App Service's access restrictions do in the cloud.
ORIGIN_HEADER = "X-Azure-FDID"
ORIGIN_CREDENTIAL_SECRET = "ORIGIN_CREDENTIAL"


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotProcess(_State):
    port: int
    version: str
    digest: str | None = None  # the image digest a release pinned (releases/targets/slots/image_tags.py)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    unhealthy: bool = False


class ServicePorts(_State):
    frontend: int
    slots: dict[str, SlotProcess]


class ProcessRecord(_State):
    pid: int
    # Boot-relative identity (releases/process_identity.py): a wall-clock step cannot fool it.
    boot_id: str
    start_ticks: float
    argv: list[str]
    log: str

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.boot_id, self.start_ticks)


class SandboxState(_State):
    # HAProxy's runtime API: a unix socket, mode 0600, inside the sandbox's directory (or, when
    # that path is too long for a socket address, in a private directory of its own under /tmp).
    runtime_api_socket: str
    haproxy_metrics_port: int
    prometheus_port: int
    postgres_port: int
    redis_port: int
    postgres_data: str  # the cluster's directory (outside the sandbox's when run by root)
    postgres_bin_dir: str
    services: dict[str, ServicePorts]
    processes: dict[str, ProcessRecord] = {}


class Layout:
    """Where everything of one sandbox lives."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_file = root / "sandbox.json"
        # Beside the directory, not in it: `down` removes the directory while holding the lock.
        self.lock_file = root.parent / f".{root.name}.lock"
        self.topology_file = root / "topology.json"
        self.haproxy_config = root / "haproxy.cfg"
        self.prometheus_config = root / "prometheus.yml"
        self.prometheus_data = root / "prometheus-data"
        self.logs = root / "logs"
        self.secrets = root / "secrets.json"
        self.redis = root / "redis"
        self.backups = root / "backups"
        self.runtime_socket = root / "haproxy.sock"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer of the state file at a time (an exclusive lock on a file beside it, held
        across a whole read-modify-write: up, down, deploy)."""
        descriptor = open_private_append(self.lock_file)  # 0600 like all the state directory
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing lets go of the lock

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def read(self) -> SandboxState | None:
        if not self.state_file.exists():
            return None
        try:
            return SandboxState.model_validate_json(self.state_file.read_text())
        except ValidationError:  # written by an older version of this code: start afresh
            return None

    def write(self, state: SandboxState) -> None:
        private_directory(self.root)
        # Atomic (a crash never leaves half a state file) and 0600, like everything under the root.
        write_private(self.state_file, state.model_dump_json(indent=2))
