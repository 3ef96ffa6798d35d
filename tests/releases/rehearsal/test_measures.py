"""The rehearsal's figures, on made-up samples whose answers are known."""

from __future__ import annotations

import pytest

from releases.rehearsal.load import Sample
from releases.rehearsal.measures import count_version, seconds_until_gone, share_of


def sample(at: float, version: str | None, status: int | None = 200, fault: bool = False) -> Sample:
    return Sample(sent_at=at, seconds=0.001, status=status, version=version, fault_injected=fault)


def test_share_counts_only_the_window() -> None:
    samples = [sample(t, "new" if t % 10 == 0 else "old") for t in range(100)]
    assert share_of(samples, "new", 0, 99) == 0.1
    assert share_of(samples, "new", 200, 300) is None


def test_seconds_until_gone_ends_at_the_first_request_after_the_last_bad_answer() -> None:
    samples = [
        sample(0.0, "old"),
        sample(1.0, "bad"),
        sample(2.5, "bad"),
        sample(2.7, "old"),
        sample(3.0, "old"),
    ]
    assert seconds_until_gone(samples, "bad", 1.0) == pytest.approx(1.7)
    assert seconds_until_gone(samples, "never", 0.0) == 0.0
    assert seconds_until_gone([sample(1.0, "bad")], "bad", 0.0) is None


def test_count_version_counts_old_answers_in_the_window() -> None:
    samples = [sample(0.0, "old"), sample(1.0, "old"), sample(2.0, "new")]
    assert count_version(samples, "old", 0.5, 2.0) == 1


def test_injected_faults_are_not_failures_but_other_errors_are() -> None:
    assert not sample(0, "v", 500, fault=True).failed
    assert sample(0, "v", 500).failed
    assert sample(0, None, None).failed
    assert not sample(0, "v", 200).failed
