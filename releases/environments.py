"""From an environment's name (and optionally a topology file) to its topology.

The sandbox describes itself; a cloud environment's topology comes from its stack's
`release_targets` output or from a file given with `--topology`. `releases.targets.factory` turns a
topology into adapters.
"""

from __future__ import annotations

from pathlib import Path

from releases.errors import BadInput
from releases.sandbox.environment import Sandbox
from releases.settings import ReleaseSettings
from releases.topology import Topology, load_topology


def topology(settings: ReleaseSettings, environment: str, path: Path | None = None) -> Topology:
    settings.environment(environment)  # an unknown name is bad input, whatever else is wrong
    if path is not None:
        described = load_topology(path)
        if described.environment != environment:
            raise BadInput(
                f"topology file {path} describes {described.environment!r}, not --env {environment!r}"
            )
        return described
    if environment == "sandbox":
        return Sandbox(settings.sandbox_dir).topology()
    from releases.stack_topology import read_stack_topology

    return read_stack_topology(settings.project_dir, environment)
