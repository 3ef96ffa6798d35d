"""Where a component's resources go: resource group, region, tags and the name stem."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Placement:
    resource_group_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]
    # `<namePrefix>-<stack>`; Azure names are `<prefix>-<kind>` so both stacks can share a
    # subscription without clashing.
    prefix: str

    def name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    @property
    def short_name(self) -> str:
        """For Azure's 12-character names (action groups): `<namePrefix[:6]>-<stack[:4]>`."""
        name_prefix, stack = self.prefix.rsplit("-", 1)
        return f"{name_prefix[:6]}-{stack[:4]}"
