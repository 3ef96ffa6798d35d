"""Bringing a sandbox up and down, and putting a version (with optional faults) on a slot."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from releases.errors import BadInput, Refused
from releases.model import Pool
from releases.sandbox import configs, processes
from releases.sandbox.state import (
    BASELINE_VERSION,
    COLOURS,
    SERVICES,
    Layout,
    ProcessRecord,
    SandboxState,
    ServicePorts,
    SlotProcess,
)
from releases.targets.haproxy import HAProxyRouter, RuntimeAPI, server_states
from releases.topology import Topology

REQUIRED_PROGRAMS = ("haproxy", "prometheus")
INFRASTRUCTURE = ("haproxy", "prometheus")


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    running: bool


def _slot_name(service: str, colour: str) -> str:
    return f"{service}-{colour}"


def _app_argv(service: str, colour: str, slot: SlotProcess) -> list[str]:
    argv = [sys.executable, "-m", "releases.sandbox.demo_app", "--port", str(slot.port),
            "--version", slot.version, "--colour", colour, "--service", service,
            "--error-rate", str(slot.error_rate), "--latency-ms", str(slot.latency_ms)]  # fmt: skip
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

    def require_running(self) -> SandboxState:
        state = self.state()
        if state is None:
            raise Refused("the sandbox is not running; start it with `invoke sandbox.up`")
        # A stopped slot process is an unhealthy slot, which releases handle (a deploy restarts
        # it); without the router or the metrics there is no sandbox to release to.
        stopped = [
            status.name
            for status in self.process_status()
            if not status.running and status.name in INFRASTRUCTURE
        ]
        if stopped:
            raise Refused(
                f"the sandbox is not running completely ({', '.join(stopped)} stopped); "
                "restart it with `invoke sandbox.down` then `invoke sandbox.up`"
            )
        return state

    def topology(self) -> Topology:
        return configs.topology(self.require_running())

    def public_url(self, service: str) -> str:
        """Where users reach `service` through HAProxy."""
        return configs.public_url(self.require_running(), service)

    # -- up and down -----------------------------------------------------------------------------

    def up(self) -> SandboxState:
        """Start everything, or return the running sandbox unchanged (idempotent)."""
        missing = [program for program in REQUIRED_PROGRAMS if shutil.which(program) is None]
        if missing:
            raise Refused(
                f"the sandbox needs {' and '.join(missing)} on PATH; `./dev setup` installs them "
                f"(Debian: apt-get install {' '.join(missing)})"
            )
        if self.is_running():
            return self.require_running()
        self.down()  # leftovers of a sandbox that died half-way
        ports = iter(processes.free_ports(3 + len(SERVICES) * (1 + len(COLOURS))))
        state = SandboxState(
            runtime_api_port=next(ports),
            haproxy_metrics_port=next(ports),
            prometheus_port=next(ports),
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
            self.down()
            raise
        return state

    def _start(self, state: SandboxState) -> None:
        layout = self.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        layout.write(state)  # first, so that `down` finds whatever was started if this fails
        layout.haproxy_config.write_text(configs.haproxy_config(state))
        layout.prometheus_config.write_text(configs.prometheus_config(state))
        check = subprocess.run(
            ["haproxy", "-c", "-q", "-f", str(layout.haproxy_config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise Refused(f"HAProxy rejected the generated configuration: {check.stdout}{check.stderr}")

        for service, ports in state.services.items():
            for colour, slot in ports.slots.items():
                self._launch(state, _slot_name(service, colour), _app_argv(service, colour, slot), slot.port)
        self._launch(
            state, "haproxy", ["haproxy", "-db", "-f", str(layout.haproxy_config)], state.runtime_api_port
        )
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
        layout.topology_file.write_text(configs.topology(state).model_dump_json(indent=2))

    def _launch(self, state: SandboxState, name: str, argv: list[str], port: int) -> ProcessRecord:
        record = processes.start(argv, self.layout.logs / f"{name}.log")
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
        state = self.state()
        stopped = []
        if state is not None:
            for name, record in state.processes.items():
                if processes.is_running(record):
                    processes.stop(record)
                    stopped.append(name)
        shutil.rmtree(self.layout.root, ignore_errors=True)
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
        """Put `version` on the service's staging slot (restarting that slot's process only).
        Returns the colour of the slot deployed to."""
        state = self.require_running()
        if service not in state.services:
            raise BadInput(f"unknown --service {service!r}; expected one of: {', '.join(state.services)}")
        if not 0.0 <= error_rate <= 1.0:
            raise BadInput(f"--error-rate must be a fraction between 0 and 1, got {error_rate}")
        if not 0 <= latency_ms <= 60_000:
            raise BadInput(f"--latency-ms must be between 0 and 60000, got {latency_ms}")
        api = RuntimeAPI(f"127.0.0.1:{state.runtime_api_port}")
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
            version=version,
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
        self._launch(state, name, _app_argv(service, colour, slot), slot.port)
