"""Figures the rehearsal reports, computed from the load's samples and the journal's timestamps.

Pure functions, so each definition is tested on its own with made-up samples.
"""

from __future__ import annotations

from collections.abc import Sequence

from releases.rehearsal.load import Sample


def versioned(samples: Sequence[Sample], start: float, end: float | None = None) -> list[Sample]:
    """Responses that name a version, sent within [start, end], in send order."""
    return sorted(
        (
            s
            for s in samples
            if s.version is not None and s.sent_at >= start and (end is None or s.sent_at <= end)
        ),
        key=lambda s: s.sent_at,
    )


def share_of(samples: Sequence[Sample], version: str, start: float, end: float) -> float | None:
    """The observed share of responses from `version` among requests sent in [start, end]."""
    window = versioned(samples, start, end)
    if not window:
        return None
    return sum(1 for s in window if s.version == version) / len(window)


def count_version(samples: Sequence[Sample], version: str, start: float, end: float) -> int:
    return sum(1 for s in versioned(samples, start, end) if s.version == version)


def seconds_until_gone(samples: Sequence[Sample], version: str, start: float) -> float | None:
    """Seconds from `start` until `version` stops answering: the send time of the first request
    after the last one `version` answered. 0 if it answered none; None if it never stopped."""
    window = versioned(samples, start)
    last = max((i for i, s in enumerate(window) if s.version == version), default=None)
    if last is None:
        return 0.0
    if last + 1 >= len(window):
        return None
    return window[last + 1].sent_at - start


def first_response_from(samples: Sequence[Sample], version: str, start: float) -> float | None:
    return next((s.sent_at for s in versioned(samples, start) if s.version == version), None)
