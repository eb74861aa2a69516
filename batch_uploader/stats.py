"""Counting a run as it goes, and the summary it ends with."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from batch_uploader.results import RowResult, Status, StopReason

# Latencies are kept as counts in buckets 2 % wide, so memory stays flat over millions of
# requests while percentiles stay within 2 %.
_BUCKET_GROWTH = math.log(1.02)


class LatencyHistogram:
    """Request latencies in logarithmic buckets, for percentiles in constant memory."""

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self._count = 0

    def add(self, seconds: float) -> None:
        milliseconds = max(seconds * 1000.0, 0.001)
        self._buckets[round(math.log(milliseconds) / _BUCKET_GROWTH)] += 1
        self._count += 1

    def percentile(self, fraction: float) -> float | None:
        """Latency in milliseconds below which `fraction` of the requests fall."""
        if self._count == 0:
            return None
        rank = max(1, math.ceil(fraction * self._count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return math.exp(bucket * _BUCKET_GROWTH)
        raise AssertionError("unreachable: ranks never exceed the count")


@dataclass
class ApiTally:
    """The API's weather over a run, apart from rows' failures: answers the run as a whole
    reacted to, and the time it spent waiting on them."""

    throttled: int = 0  # 429 Too Many Requests
    quota_refusals: int = 0  # 429 Limit Exceeded
    unavailable: int = 0  # 5xx, dropped connections, timeouts
    outage_seconds: float = 0.0  # probing an API that did not answer
    quota_wait_seconds: float = 0.0  # waiting for a spent quota to come back
    paused_seconds: float = 0.0  # waiting as a Retry-After asked


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What a run came to: returned by `upload_manifest`, printed by the CLI."""

    rows_by_status: dict[Status, int]
    requests: int
    retries: int
    elapsed_seconds: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    report_path: Path
    earlier_ok: int = 0
    stop_reason: StopReason | None = None
    stop_detail: str | None = None
    api: ApiTally = field(default_factory=ApiTally)
    blank_rows: int = 0  # rows of the manifest with no value at all: not rows, not counted
    # A second signal ended the run before every row had its line: the rest are not counted.
    report_cut_off: bool = False

    @property
    def rows(self) -> int:
        return sum(self.rows_by_status.values())

    @property
    def rows_per_second(self) -> float:
        """Rows this run finished (not cancelled, not ok from an earlier run) per second."""
        finished = self.rows - self.rows_by_status.get(Status.CANCELLED, 0) - self.earlier_ok
        return finished / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def all_ok(self) -> bool:
        return self.stop_reason is None and self.rows_by_status.get(Status.OK, 0) == self.rows


@dataclass
class RunStats:
    """Mutable counters a run updates as rows and requests finish."""

    rows_by_status: Counter[Status] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    earlier_ok: int = 0
    latencies: LatencyHistogram = field(default_factory=LatencyHistogram)
    api: ApiTally = field(default_factory=ApiTally)
    report_cut_off: bool = False

    def add_result(self, result: RowResult) -> None:
        self.rows_by_status[result.status] += 1

    def add_cancelled(self, rows: int) -> None:
        """Rows never started, cancelled in bulk after a stop."""
        self.rows_by_status[Status.CANCELLED] += rows

    def add_earlier_ok(self) -> None:
        """A row an earlier run finished ok: in scope, not sent again."""
        self.rows_by_status[Status.OK] += 1
        self.earlier_ok += 1

    def add_request(self, seconds: float) -> None:
        self.requests += 1
        self.latencies.add(seconds)

    def summary(
        self,
        *,
        elapsed_seconds: float,
        report_path: Path,
        stop_reason: StopReason | None,
        stop_detail: str | None = None,
        blank_rows: int = 0,
    ) -> RunSummary:
        return RunSummary(
            rows_by_status={status: self.rows_by_status[status] for status in Status},
            requests=self.requests,
            retries=self.retries,
            elapsed_seconds=elapsed_seconds,
            latency_p50_ms=self.latencies.percentile(0.50),
            latency_p95_ms=self.latencies.percentile(0.95),
            report_path=report_path,
            earlier_ok=self.earlier_ok,
            stop_reason=stop_reason,
            stop_detail=stop_detail,
            api=dataclasses.replace(self.api),
            blank_rows=blank_rows,
            report_cut_off=self.report_cut_off,
        )
