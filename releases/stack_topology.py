"""A cloud environment's topology from its Pulumi stack: the `release_targets` output, read with
the Automation API (which drives the Pulumi CLI and its login)."""

from __future__ import annotations

import shutil
from pathlib import Path

from releases.errors import Refused
from releases.topology import Topology, parse_topology

OUTPUT = "release_targets"


def _saved_output_hint(stack: str) -> str:
    return (
        f"or pass --topology PATH with the output saved as JSON "
        f"(`pulumi stack output {OUTPUT} --json --stack {stack} > {stack}-topology.json`)"
    )


def read_stack_topology(project_dir: Path, stack: str) -> Topology:
    if shutil.which("pulumi") is None:
        raise Refused(
            f"reading the `{OUTPUT}` output of stack {stack} needs the Pulumi CLI, which is not on PATH: "
            f"install it and `pulumi login`, {_saved_output_hint(stack)}"
        )
    from pulumi import automation

    try:
        outputs = automation.select_stack(stack_name=stack, work_dir=str(project_dir)).outputs()
    except automation.CommandError as error:
        detail = str(error).strip().splitlines() or ["no output"]
        raise Refused(
            f"the Pulumi CLI could not read stack {stack} ({detail[-1][:300]}); check "
            f"`pulumi login` and the backend's credentials, {_saved_output_hint(stack)}"
        ) from None
    if OUTPUT not in outputs:
        raise Refused(f"stack {stack} has no `{OUTPUT}` output yet; run `pulumi up --stack {stack}` first")
    return parse_topology(outputs[OUTPUT].value, f"the `{OUTPUT}` output of stack {stack}")
