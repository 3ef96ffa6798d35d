"""Bringing a sandbox up and down, and putting a version (with optional faults) on a slot."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from packaging.version import Version

from releases.errors import BadInput, Refused
from releases.model import Pool
from releases.sandbox import configs, datastores, processes
from releases.sandbox.state import (
    BASELINE_VERSION,
    COLOURS,
    ORIGIN_CREDENTIAL_SECRET,
    ORIGIN_HEADER,
    SERVICES,
    Layout,
    ProcessRecord,
    SandboxState,
    ServicePorts,
    SlotProcess,
)
from releases.state_files import private_directory, write_private
from releases.targets.routers.haproxy import HAProxyRouter, RuntimeAPI, server_states
from releases.targets.secrets.sandbox import SandboxSecrets
from releases.targets.slots.image_tags import split_version
from releases.topology import Topology

REQUIRED_PROGRAMS = ("haproxy", "prometheus")
# A unix socket's path holds at most 107 bytes, and HAProxy binds `<path>.<pid>.tmp` first, then
# renames it: a deep sandbox directory gets its socket in a short private directory in /tmp.
MAX_SOCKET_PATH = 80
SOCKET_DIR_PREFIX = "platform-sandbox-haproxy-"
INFRASTRUCTURE = ("haproxy", "prometheus", "postgres", "redis")
# Starts with new ports after a port was taken by another process between choice and start.
START_ATTEMPTS = 3
ROUTER = ("haproxy",)


@dataclass(frozen=True)
class Started:
    state: SandboxState
    started: bool  # False: it was already running and was left as it was


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    running: bool


def _runtime_socket(layout: Layout) -> Path:
    """Where HAProxy's runtime API listens: in the sandbox's directory when the path fits a socket
    address, else in a new private (0700) directory under the system's temporary directory."""
    if len(str(layout.runtime_socket)) <= MAX_SOCKET_PATH:
        return layout.runtime_socket
    return Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX)) / "runtime.sock"


def _slot_name(service: str, colour: str) -> str:
    return f"{service}-{colour}"


def _app_argv(service: str, colour: str, slot: SlotProcess) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "releases.sandbox.demo_app",
        "--port",
        str(slot.port),
        "--version",
        slot.version,
        "--colour",
        colour,
        "--service",
        service,
        "--error-rate",
        str(slot.error_rate),
        "--latency-ms",
        str(slot.latency_ms),
    ]
    if slot.digest:
        argv += ["--image-digest", slot.digest]
    return [*argv, "--unhealthy"] if slot.unhealthy else argv


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.layout = Layout(root)

    # -- reading ---------------------------------------------------------------------------------

    def state(self) -> SandboxState | None:
        return self.layout.read()

    def process_status(self) -> list[ProcessStatus]:
        state = self.state()
        if state is None:
            return []
        return [
            ProcessStatus(name=name, pid=record.pid, running=processes.is_running(record))
            for name, record in state.processes.items()
        ]

    def is_running(self) -> bool:
        statuses = self.process_status()
        return bool(statuses) and all(status.running for status in statuses)

    def require_running(self, needs: tuple[str, ...] = ROUTER) -> SandboxState:
        """The sandbox's state, if the processes a command needs run. Every release command needs
        the router; nothing else is required up front: a stopped slot is an unhealthy slot (the
        gates see it, a deploy restarts it), a stopped Prometheus is missing evidence (the gates
        count it against the canary), and `status` or `rollback` use neither."""
        state = self.state()
        if state is None:
            raise Refused("the sandbox is not running; start it with `invoke sandbox.up`")
        stopped = [
            status.name for status in self.process_status() if not status.running and status.name in needs
        ]
        if stopped:
            raise Refused(
                f"the sandbox is not running completely ({', '.join(stopped)} stopped); "
                "restart it with `invoke sandbox.down` then `invoke sandbox.up`"
            )
        return state

    def topology(self) -> Topology:
        return configs.topology(self.require_running(), self.layout)

    @property
    def secrets(self) -> SandboxSecrets:
        return SandboxSecrets(self.layout.secrets)

    def origin_headers(self) -> dict[str, str]:
        """What a client of the public URLs must send: the origin credential (HAProxy refuses any
        request without it, as the cloud origins refuse requests that did not come through
        Cloudflare)."""
        return {ORIGIN_HEADER: self.secrets.value(ORIGIN_CREDENTIAL_SECRET).get_secret_value()}

    def public_url(self, service: str) -> str:
        """Where users reach `service` through HAProxy."""
        return configs.public_url(self.require_running(), service)

    # -- up and down -----------------------------------------------------------------------------

    def up(self) -> Started:
        """Start everything, or leave the running sandbox unchanged (idempotent)."""
        missing = [program for program in REQUIRED_PROGRAMS if shutil.which(program) is None]
        missing += datastores.missing_programs()
        if missing:
            raise Refused(
                f"the sandbox needs {', '.join(missing)}; `./dev setup` installs them "
                "(Debian: apt-get install haproxy prometheus postgresql redis-server)"
            )
        with self.layout.locked():
            if self.is_running():
                return Started(self.require_running(INFRASTRUCTURE), started=False)
            self._down()  # leftovers of a sandbox that died half-way
            for _ in range(START_ATTEMPTS - 1):
                try:
                    return Started(self._up(), started=True)
                except processes.PortTaken:  # `_up` stopped what it started: again, new ports
                    continue
            return Started(self._up(), started=True)

    def _up(self) -> SandboxState:
        ports = iter(processes.free_ports(4 + len(SERVICES) * (1 + len(COLOURS))))
        bin_dir = datastores.postgres_bin_dir()
        assert bin_dir is not None  # missing_programs() said so
        private_directory(self.layout.root)
        state = SandboxState(
            runtime_api_socket=str(_runtime_socket(self.layout)),
            haproxy_metrics_port=next(ports),
            prometheus_port=next(ports),
            postgres_port=next(ports),
            redis_port=next(ports),
            postgres_data=str(datastores.postgres_data_dir(self.layout.root)),
            postgres_bin_dir=str(bin_dir),
            services={
                service: ServicePorts(
                    frontend=next(ports),
                    slots={
                        colour: SlotProcess(port=next(ports), version=BASELINE_VERSION) for colour in COLOURS
                    },
                )
                for service in SERVICES
            },
        )
        try:
            self._start(state)
        except BaseException:
            self._down()
            raise
        return state

    def _start(self, state: SandboxState) -> None:
        layout = self.layout
        private_directory(layout.root)
        layout.write(state)  # first, so that `down` finds whatever was started if this fails
        # A new origin credential per sandbox, kept in its secret store (0600) like any secret.
        credential = str(uuid.uuid4())
        self.secrets.put(ORIGIN_CREDENTIAL_SECRET, credential)
        write_private(layout.haproxy_config, configs.haproxy_config(state, credential))
        write_private(layout.prometheus_config, configs.prometheus_config(state))
        check = subprocess.run(
            ["haproxy", "-c", "-q", "-f", str(layout.haproxy_config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise Refused(f"HAProxy rejected the generated configuration: {check.stdout}{check.stderr}")

        self._start_datastores(state)
        for service, ports in state.services.items():
            for colour, slot in ports.slots.items():
                self._launch_slot(state, service, colour, slot)
        self._launch(
            state, "haproxy", ["haproxy", "-db", "-f", str(layout.haproxy_config)], state.haproxy_metrics_port
        )
        processes.wait_for_socket("haproxy", state.processes["haproxy"], Path(state.runtime_api_socket))
        self._launch(
            state,
            "prometheus",
            [
                "prometheus",
                f"--config.file={layout.prometheus_config}",
                f"--storage.tsdb.path={layout.prometheus_data}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address=127.0.0.1:{state.prometheus_port}",
                "--log.level=warn",
            ],
            state.prometheus_port,
        )
        self._wait_prometheus_ready(state)
        write_private(layout.topology_file, configs.topology(state, layout).model_dump_json(indent=2))

    def _start_datastores(self, state: SandboxState) -> None:
        """Postgres with the app's database at its first version (1.0.0: a table with rows, so
        backups have something to prove), Redis, and their URLs in the secret store."""
        from releases.sandbox import migrate  # loads the database driver: only when starting

        postgres = datastores.Postgres(
            Path(state.postgres_bin_dir), Path(state.postgres_data), state.postgres_port
        )
        postgres.initialise()
        self._launch(state, "postgres", postgres.argv(), state.postgres_port, user=datastores.server_user())
        database_url = postgres.create_app_database()
        migrate.migrate(database_url, Version(BASELINE_VERSION))
        redis = datastores.Redis(self.layout.redis, state.redis_port)
        redis_url = redis.configure()
        self._launch(state, "redis", redis.argv(), state.redis_port)
        store = self.secrets
        store.put("DATABASE_URL", database_url)
        store.put("REDIS_URL", redis_url)
        store.put("SESSION_SECRET", secrets.token_urlsafe(32))

    def _launch_slot(self, state: SandboxState, service: str, colour: str, slot: SlotProcess) -> None:
        """A slot process gets the secret store's values in its environment, as App Service
        resolves a slot's Key Vault references when the slot starts."""
        argv = _app_argv(service, colour, slot)
        self._launch(state, _slot_name(service, colour), argv, slot.port, env=self.secrets.values())

    def _launch(
        self,
        state: SandboxState,
        name: str,
        argv: list[str],
        port: int,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ProcessRecord:
        record = processes.start(argv, self.layout.logs / f"{name}.log", env=env, user=user)
        state.processes[name] = record
        self.layout.write(state)
        processes.wait_listening(name, record, port)
        return record

    def _wait_prometheus_ready(self, state: SandboxState, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{state.prometheus_port}/-/ready", timeout=1.0).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise Refused(f"Prometheus was not ready within {timeout:g} s; see {self.layout.logs}/prometheus.log")

    def down(self) -> list[str]:
        """Stop every process this sandbox started (by pid) and remove its directory."""
        with self.layout.locked():
            return self._down()

    def _down(self) -> list[str]:
        state = self.state()
        stopped = []
        if state is not None:
            # Last started, first stopped: the slots let go of the database before it stops.
            for name, record in reversed(state.processes.items()):
                if processes.is_running(record):
                    # Postgres' SIGTERM waits for every client to leave; SIGINT ends their sessions.
                    processes.stop(record, signal.SIGINT if name == "postgres" else signal.SIGTERM)
                    stopped.append(name)
            survivors = [name for name, record in state.processes.items() if processes.is_running(record)]
            if survivors:  # never delete the records of processes that still run
                raise Refused(
                    f"{', '.join(survivors)} did not stop; the sandbox directory {self.layout.root} is kept "
                    "so that `invoke sandbox.down` can try again"
                )
            # Outside the sandbox's directory when the server ran as another user (root's sandboxes).
            shutil.rmtree(state.postgres_data, ignore_errors=True)
            socket_dir = Path(state.runtime_api_socket).parent
            if socket_dir != self.layout.root and socket_dir.name.startswith(SOCKET_DIR_PREFIX):
                shutil.rmtree(socket_dir, ignore_errors=True)
        self.layout.remove()
        return stopped

    # -- deploying -------------------------------------------------------------------------------

    def deploy(
        self,
        service: str,
        version: str,
        *,
        error_rate: float = 0.0,
        latency_ms: int = 0,
        unhealthy: bool = False,
    ) -> str:
        """Put `version` on the service's staging slot (restarting that slot's process only); a
        version pinned by digest (`2.0.0@sha256:...`) runs as its tag and reports the digest.
        Returns the colour of the slot deployed to. One deploy at a time per sandbox: the state
        file is read and written under its lock, so concurrent deploys (web and api) both land."""
        with self.layout.locked():
            return self._deploy(service, version, error_rate, latency_ms, unhealthy)

    def _deploy(self, service: str, version: str, error_rate: float, latency_ms: int, unhealthy: bool) -> str:
        tag, digest = split_version(version)
        state = self.require_running()
        if service not in state.services:
            raise BadInput(f"unknown --service {service!r}; expected one of: {', '.join(state.services)}")
        if not 0.0 <= error_rate <= 1.0:
            raise BadInput(f"--error-rate must be a fraction between 0 and 1, got {error_rate}")
        if not 0 <= latency_ms <= 60_000:
            raise BadInput(f"--latency-ms must be between 0 and 60000, got {latency_ms}")
        api = RuntimeAPI(state.runtime_api_socket)
        weights = HAProxyRouter(api, service).read_weights()
        if weights.canary > 0:
            raise Refused(
                f"the staging slot of {service} takes {weights.canary_share:.0%} of traffic; deploying "
                "would restart it under users. Roll back (`invoke rollback`) or promote first"
            )
        canary = server_states(api, service)[Pool.CANARY]
        colour = next(c for c, slot in state.services[service].slots.items() if slot.port == canary.port)
        slot = SlotProcess(
            port=canary.port,
            version=tag,
            digest=digest,
            error_rate=error_rate,
            latency_ms=latency_ms,
            unhealthy=unhealthy,
        )
        self._restart_slot(state, service, colour, slot)
        return colour

    def _restart_slot(self, state: SandboxState, service: str, colour: str, slot: SlotProcess) -> None:
        name = _slot_name(service, colour)
        if name in state.processes:
            processes.stop(state.processes[name])
        state.services[service].slots[colour] = slot
        self._launch_slot(state, service, colour, slot)
