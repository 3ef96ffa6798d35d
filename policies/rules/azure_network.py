"""Azure networks: every network security group denies by default, inbound and outbound, and
admits nothing from the internet; what it allows is a list of named flows (infra/azure/network.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule
from policies.values import MISSING, items, shown, value_at

NETWORK_SECURITY_GROUP = "azure-native:network:NetworkSecurityGroup"
EVERYWHERE = ("*", "Internet", "Any", "0.0.0.0/0", "::/0")


def _matches_all(rule: Mapping[str, Any]) -> bool:
    """A rule over every source, destination, port and protocol."""
    return all(
        value_at(rule, key) == "*"
        for key in ("protocol", "sourceAddressPrefix", "destinationAddressPrefix", "destinationPortRange")
    )


def _priority(rule: Mapping[str, Any]) -> float:
    value = value_at(rule, "priority")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _deny_by_default(group: Resource, _: Context) -> Iterator[str]:
    if value_at(group.props, "securityRules") is MISSING:
        yield "securityRules is not set; expected the allowed flows, then deny-all inbound and outbound"
        return
    rules = [rule for rule in items(group.props, "securityRules") if isinstance(rule, Mapping)]
    for direction in ("Inbound", "Outbound"):
        own = [rule for rule in rules if value_at(rule, "direction") == direction]
        denies = [rule for rule in own if value_at(rule, "access") == "Deny" and _matches_all(rule)]
        if not denies:
            yield (
                f"securityRules has no deny-all {direction} rule; expected one (any protocol, source, "
                "destination and port) so that only the listed flows pass"
            )
            continue
        deny_priority = min(_priority(rule) for rule in denies)
        for rule in own:
            if value_at(rule, "access") != "Allow":
                continue
            if _priority(rule) > deny_priority:
                name = shown(value_at(rule, "name"))
                yield f"securityRules: {name} comes after the deny-all {direction} rule, so never applies"
            source = value_at(rule, "sourceAddressPrefix")
            if direction == "Inbound" and source in EVERYWHERE:
                yield (
                    f"securityRules: {shown(value_at(rule, 'name'))} admits {shown(source)} inbound; "
                    "expected a subnet range"
                )


RULES: tuple[Rule, ...] = (
    ResourceRule(
        "azure-nsg-deny-by-default",
        "Network security groups deny by default, inbound and outbound, and admit nothing from the internet",
        Level.MANDATORY,
        Reference("MCSB", "NS-1; CIS Azure 6.x"),
        (NETWORK_SECURITY_GROUP,),
        check=_deny_by_default,
    ),
)
