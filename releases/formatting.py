"""Gate figures as people read them, the same on the console and in the deployment log: a figure
that is missing (no requests yet, no histogram) reads `-`."""

from __future__ import annotations


def rate(value: object) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) else "-"


def count(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else "-"


def milliseconds(value: object) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, int | float) else "-"
