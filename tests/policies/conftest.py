"""Shared fixtures: the committed stacks' resources as the rules see them."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest

from infra.offline import Plan
from policies.check import resources_of
from policies.rule import Resource

_STEP = re.compile(r"([^.\[]+)|\[(\d+)\]|\[(\w+)=([^\]]+)\]")


def _steps(path: str) -> list[str | int | tuple[str, str]]:
    """`a.b[0].c[name=X]` -> ["a", "b", 0, "c", ("name", "X")]."""
    steps: list[str | int | tuple[str, str]] = []
    for key, index, field, wanted in _STEP.findall(path):
        steps.append(key if key else int(index) if index else (field, wanted))
    return steps


def _child(holder: Any, step: str | int | tuple[str, str]) -> Any:
    if isinstance(step, tuple):
        field, wanted = step
        return next(i for i, item in enumerate(holder) if item.get(field) == wanted)
    return step


def with_value(resource: Resource, path: str, value: Any) -> Resource:
    """A copy of the resource with `value` at `path` (dots, [index] and [field=value] steps)."""
    props = copy.deepcopy(dict(resource.props))
    holder: Any = props
    *steps, last = _steps(path)
    for step in steps:
        holder = (
            holder.setdefault(_child(holder, step), {})
            if isinstance(holder, dict)
            else holder[_child(holder, step)]
        )
    holder[_child(holder, last)] = value
    return dataclasses.replace(resource, props=props)


def without(resource: Resource, path: str) -> Resource:
    """A copy of the resource with the input at `path` removed."""
    props = copy.deepcopy(dict(resource.props))
    holder: Any = props
    *steps, last = _steps(path)
    for step in steps:
        holder = holder[_child(holder, step)]
    del holder[_child(holder, last)]
    return dataclasses.replace(resource, props=props)


@pytest.fixture
def resources_in(plan_of: Callable[[str], Plan]) -> Callable[[str], list[Resource]]:
    """A committed stack's resources, as `invoke policy` hands them to the rules."""
    return lambda stack: resources_of(plan_of(stack))
