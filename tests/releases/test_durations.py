"""`release --bake` durations as operators type them, and the refusal naming the form."""

from __future__ import annotations

import pytest

from releases.durations import parse_duration
from releases.errors import BadInput


@pytest.mark.parametrize(
    ("text", "seconds"), [("45", 45), ("90s", 90), ("10m", 600), ("1.5h", 5400), (" 2M ", 120)]
)
def test_a_duration_is_seconds_minutes_or_hours(text: str, seconds: float) -> None:
    assert parse_duration(text, "--bake") == seconds


@pytest.mark.parametrize("text", ["", "0", "ten minutes", "10d", "-5s", "25h", "1e3"])
def test_anything_else_is_bad_input_naming_the_form(text: str) -> None:
    with pytest.raises(BadInput, match=r"--bake must be a duration .* \(90s, 10m, 1\.5h\) or plain seconds"):
        parse_duration(text, "--bake")
