"""The Pulumi entry point turns a configuration mistake into a plain error, not a traceback."""

from __future__ import annotations

import pulumi
import pytest

from infra import __main__ as entry_point


class _RefuseEverything(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, object]]:
        raise AssertionError(f"nothing may be created with invalid settings: {args.typ}")

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, object], list[tuple[str, str]]]:
        raise AssertionError("nothing may be called with invalid settings")


def test_invalid_configuration_stops_the_program_with_a_run_error() -> None:
    pulumi.runtime.set_all_config({"platform:postgresVersion": "12"}, [])
    pulumi.runtime.set_mocks(_RefuseEverything(), project="platform", stack="staging")
    with pytest.raises(pulumi.RunError, match=r"platform:postgresVersion = \"12\"") as raised:
        entry_point.main()
    assert "platform:publicHostname = <missing>" in str(raised.value)
