"""The delivery check the benchmark reports must itself be right."""

from __future__ import annotations

from bench.stats import Latency, Stream, StreamCheck, percentile


def test_percentile_is_nearest_rank() -> None:
    """p50 and p99 of 1..100 are 50 and 99; no samples give 0."""
    samples = [float(n) for n in range(100, 0, -1)]
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile([], 0.99) == 0
    assert Latency.of([0.001, 0.002]).max == 2


def test_a_complete_stream_is_clean() -> None:
    """Every version after the joined one, once and in order, is no problem."""
    stream = Stream(3)
    for version in (4, 5, 6):
        stream.take(version)
    check = StreamCheck()
    check.add("s", stream, final=6)
    assert check.clean and stream.received == 3


def test_gaps_duplicates_and_reordering_are_counted() -> None:
    """A jump is out of order, a repeat a duplicate; what never comes is lost."""
    stream = Stream(0)
    for version in (1, 3, 2, 3, 6):  # 2 late, 3 repeated, 4 skipped for good
        stream.take(version)
    check = StreamCheck()
    check.add("s", stream, final=7)  # 7 never came
    assert check.reordered == 2  # 3 before 2, 6 before 4 and 5
    assert check.duplicated == 1
    assert check.lost == 3  # 4, 5 and 7
    assert not check.clean and check.problems
