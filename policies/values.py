"""Reading resource inputs inside a rule, and saying what is wrong with them.

Reads go through whatever mapping the rule was given, so an unknown value raises pulumi_policy's
`UnknownValueError` (see policies/rule.py). Messages name the input path and, for plain scalars,
the value: never a secret, since no rule judges a secret's value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from policies.rule import Context, Resource, ResourceCheck


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Marker("MISSING")
# A reference to a resource created in the same update: its id is unknown until it exists.
PENDING: Any = _Marker("PENDING")


def value_at(props: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of input names, or MISSING when any step is absent or null."""
    value: Any = props
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in _keys(value):
            return MISSING
        value = value[key]
        if value is None:
            return MISSING
    return value


def _keys(mapping: Mapping[str, Any]) -> list[str]:
    # Iterating a proxy yields its keys without reading (and so without judging) their values.
    return list(iter(mapping))


def reference(props: Mapping[str, Any], path: str) -> Any:
    """An input that names another resource (its id or ARN): MISSING, PENDING, or its value.

    The one kind of unknown value a rule may accept: when the resource it names is created in the
    same update, its id is unknown in every preview before that, and Pulumi resolves it to that
    resource. Rules judge that such a reference is set; any other unknown value is reported.
    """
    parent, _, key = path.rpartition(".")
    holder = value_at(props, parent) if parent else props
    if not isinstance(holder, Mapping) or key not in _keys(holder):
        return MISSING
    try:
        value = holder[key]
    except UnknownValueError:
        return PENDING
    return MISSING if value is None else value


def expect_reference(props: Mapping[str, Any], path: str, expected: str, prefix: str = "") -> Iterator[str]:
    """A violation message unless `path` names a resource: set, and when known a non-empty
    string starting with `prefix` (a pending id passes, see `reference`)."""
    value = reference(props, path)
    if value is MISSING:
        yield f"{path} is not set; expected {expected}"
    elif value is not PENDING and (not isinstance(value, str) or not value.startswith(prefix) or not value):
        yield f"{path} is {shown(value)}; expected {expected}"


def shown(value: Any) -> str:
    """A value as a message shows it: JSON for scalars, a description otherwise."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "an object"
    return "a list" if isinstance(value, Sequence) else type(value).__name__


def expect(props: Mapping[str, Any], path: str, allowed: Sequence[Any], expected: str) -> Iterator[str]:
    """A violation message unless the value at `path` is one of `allowed`. A missing value is a
    violation too: defaults differ between API versions, so a protected setting is stated."""
    value = value_at(props, path)
    if value is MISSING:
        yield f"{path} is not set; expected {expected}"
    elif not any(_same(value, candidate) for candidate in allowed):
        yield f"{path} is {shown(value)}; expected {expected}"


def _same(value: Any, candidate: Any) -> bool:
    # true is not 1: a boolean setting given as a number is a different setting.
    if isinstance(value, bool) or isinstance(candidate, bool):
        return value is candidate
    return bool(value == candidate)


def items(props: Mapping[str, Any], path: str) -> list[Any]:
    """The elements of a list input (empty when it is not set)."""
    value = value_at(props, path)
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def pinned_image(reference: str) -> bool:
    """An image reference pinned to a version: a tag other than latest, or a digest."""
    if "@sha256:" in reference:
        return True
    name, _, tag = reference.rpartition(":")
    return bool(name) and bool(tag) and "/" not in tag and tag != "latest"


# One input and the values that satisfy it, with the expectation a message states.
Requirement = tuple[str, Sequence[Any], str]


def requires(*requirements: Requirement) -> ResourceCheck:
    """The common rule: each input holds one of its allowed values (see `expect`)."""

    def check(resource: Resource, _: Context) -> Iterator[str]:
        for path, allowed, expected in requirements:
            yield from expect(resource.props, path, allowed, expected)

    return check
