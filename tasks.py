"""Operator tasks. Thin on purpose: parse arguments, call the library, show the result.

Exit codes: 0 done, 1 unexpected failure, 2 bad input.
"""

from __future__ import annotations

import json as json_module
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

PROJECT_DIR = Path(__file__).resolve().parent
EXIT_BAD_INPUT = 2


@task(
    help={
        "env": "stack to plan: staging or production (required)",
        "json": "print one JSON document (resources with their inputs, outputs) instead of tables",
    }
)
def plan(c: Context, env: str = "", json_: bool = False) -> None:
    """Show what a stack declares, offline: the Pulumi program under Pulumi's mocks, no
    credentials and no Pulumi CLI. Secret values are shown as "[secret]"."""
    # Imported here so that `invoke --list` and future release tasks never load Pulumi.
    from infra.offline import run_offline
    from infra.program import build
    from infra.settings import SettingsError

    if not env:
        raise Exit("--env is required: staging or production", code=EXIT_BAD_INPUT)
    try:
        result = run_offline(PROJECT_DIR, env, build)
    except SettingsError as error:
        raise Exit(f"plan --env {env}: {error}", code=EXIT_BAD_INPUT) from None

    if json_:
        print(json_module.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        from rich.console import Console

        from infra.inventory import inventory

        Console().print(inventory(result))


namespace = Collection(plan)
