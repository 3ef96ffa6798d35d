"""Durations as operators type them: `90s`, `10m`, `1.5h`, or a bare number of seconds (`45`)."""

from __future__ import annotations

import re

from releases.errors import BadInput

_DURATION = re.compile(r"(?P<amount>\d+(\.\d+)?)\s*(?P<unit>[smh]?)")
_SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600}
MAX_SECONDS = 24 * 3600  # as the settings' own bakes (releases/settings.py `Seconds`)


def parse_duration(text: str, option: str) -> float:
    """Seconds, or BadInput naming the expected form."""
    match = _DURATION.fullmatch(text.strip().lower())
    seconds = float(match["amount"]) * _SECONDS_PER[match["unit"]] if match else 0.0
    if match is None or not 0 < seconds <= MAX_SECONDS:
        raise BadInput(
            f"{option} must be a duration above 0 and up to 24h: a number with s, m or h (90s, 10m, 1.5h) "
            f"or plain seconds (45); got {text!r}"
        )
    return seconds
