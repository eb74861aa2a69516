"""The numbers in the summary: latency percentiles in constant memory, honest rows per second."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from batch_uploader import RowResult, Status
from batch_uploader.stats import LatencyHistogram, RunStats


def test_percentiles_are_within_two_percent_of_exact() -> None:
    generator = random.Random(5)
    samples = [generator.lognormvariate(-3, 1) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for seconds in samples:
        histogram.add(seconds)
    ordered = sorted(samples)
    for fraction in (0.5, 0.95):
        exact_ms = ordered[int(fraction * len(ordered)) - 1] * 1000
        assert histogram.percentile(fraction) == pytest.approx(exact_ms, rel=0.02)


def test_no_requests_no_percentile() -> None:
    assert LatencyHistogram().percentile(0.5) is None


def test_rows_per_second_counts_only_rows_this_run_finished() -> None:
    stats = RunStats()
    for status in (Status.OK, Status.FAILED, Status.CANCELLED, Status.CANCELLED):
        stats.add_result(RowResult(row=1, submission_id="s", fields=(), status=status))
    stats.add_earlier_ok()
    summary = stats.summary(elapsed_seconds=2.0, report_path=Path("r.csv"), stop_reason=None)
    assert summary.rows == 5
    assert summary.rows_by_status[Status.OK] == 2
    assert summary.rows_per_second == 1.0
    assert not summary.all_ok
