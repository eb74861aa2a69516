"""The run's figures for Prometheus: counted as the run goes, rendered when asked.

Counting is plain integer arithmetic on the run's path (a row costs no lock and no label
lookup); `prometheus_client` builds the metric families only when they are written out.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from batch_uploader.answers import AnswerKind, classify
from batch_uploader.events import ApiCondition, ApiState, RequestEvent, RetryEvent, RunObserver
from batch_uploader.results import RowResult, Status
from batch_uploader.version import __version__

if TYPE_CHECKING:
    from batch_uploader.manifest import ManifestRow

PREFIX = "batch_uploader"
# Request latency buckets in seconds: loopback to the gateway's 29 s limit and past it.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class RunMetrics(RunObserver, Collector):
    """A run's counters, as an observer of the run and a Prometheus collector.

    `labels` are added to every series (the report's name, the shard), so that several
    runs' files on one node, or shards pushed to one gateway, stay apart.
    """

    def __init__(
        self,
        *,
        labels: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._labels = dict(labels or {})
        self._clock = clock
        self._wall_clock = wall_clock
        self._started = clock()
        self._started_at = wall_clock()
        self._rows: Counter[Status] = Counter()
        self._earlier_ok = 0
        self._requests: Counter[AnswerKind] = Counter()
        self._error_codes: Counter[str] = Counter()
        self._retries = 0
        self._body_bytes = 0
        self._duration_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self._duration_sum = 0.0
        self._condition = ApiCondition.NORMAL
        self._condition_since = self._started
        self._condition_entered: Counter[ApiCondition] = Counter()
        self._condition_seconds: dict[ApiCondition, float] = dict.fromkeys(ApiCondition, 0.0)
        self._rate_limit: float | None = None
        self._last_accepted_at: float | None = None
        self._ended: tuple[float, int, bool] | None = None  # duration, exit code, all ok

    # The run's events

    def on_resuming(self, earlier_ok: int) -> None:
        self._earlier_ok = earlier_ok

    def on_row_finished(self, result: RowResult) -> None:
        self._rows[result.status] += 1

    def on_unsent_cancelled(self, rows: int) -> None:
        self._rows[Status.CANCELLED] += rows

    def on_request(self, event: RequestEvent) -> None:
        kind = classify(event.answer)
        self._requests[kind] += 1
        if kind is AnswerKind.ACCEPTED:
            self._last_accepted_at = self._wall_clock()
        else:
            self._error_codes[event.answer.error_code or f"http_{event.answer.http_status}"] += 1
        self._body_bytes += event.body_bytes
        self._duration_buckets[bisect.bisect_left(DURATION_BUCKETS, event.seconds)] += 1
        self._duration_sum += event.seconds

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        self._retries += 1

    def on_api_state(self, state: ApiState) -> None:
        now = self._clock()
        self._condition_seconds[self._condition] += now - self._condition_since
        if state.condition is not self._condition:
            self._condition_entered[state.condition] += 1
        self._condition, self._condition_since = state.condition, now
        self._rate_limit = state.rate_limit

    def end(self, exit_code: int, *, all_ok: bool) -> None:
        """The run is over (or was refused before it began): its duration and exit code are
        final; `all_ok` sets the last-success time."""
        self._ended = (self._clock() - self._started, exit_code, all_ok)

    # The Prometheus side

    def registry(self) -> CollectorRegistry:
        """A registry of its own holding these metrics only (no process or platform ones)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return registry

    def collect(self) -> Iterable[Metric]:
        names = list(self._labels)
        values = list(self._labels.values())

        def counter(name: str, documentation: str, *labels: str) -> CounterMetricFamily:
            return CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=[*names, *labels])

        def gauge(name: str, documentation: str, value: float) -> Metric:
            family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=names)
            family.add_metric(values, value)
            return family

        info = GaugeMetricFamily(
            f"{PREFIX}_info", "The batch-uploader version that ran.", labels=[*names, "version"]
        )
        info.add_metric([*values, __version__], 1)
        yield info

        rows = counter("rows", "Rows this run finished, by report status.", "status")
        for status in Status:
            rows.add_metric([*values, status.value], self._rows[status])
        yield rows
        yield gauge(
            "rows_earlier_ok",
            "Rows ok in the report being resumed, not sent again.",
            self._earlier_ok,
        )

        requests = counter(
            "requests", "HTTP attempts, by what their answer meant for the run.", "outcome"
        )
        for kind in AnswerKind:
            requests.add_metric([*values, kind.value], self._requests[kind])
        yield requests
        errors = counter(
            "request_errors", "HTTP attempts not accepted, by errorCode.", "error_code"
        )
        for code, count in sorted(self._error_codes.items()):
            errors.add_metric([*values, code], count)
        yield errors
        retries = counter("retries", "Attempts that were retried.")
        retries.add_metric(values, self._retries)
        yield retries
        sent = counter("sent_bytes", "Bytes of request bodies sent (multipart, Base64 images).")
        sent.add_metric(values, self._body_bytes)
        yield sent
        yield self._duration_histogram(names, values)

        yield from self._api_families(names, values)
        yield from self._run_families(names, values, gauge)

    def _duration_histogram(self, names: list[str], values: list[str]) -> Metric:
        histogram = HistogramMetricFamily(
            f"{PREFIX}_request_duration_seconds",
            "Time from sending a request to its answer (or to giving up on it).",
            labels=names,
        )
        cumulative, buckets = 0, []
        for bound, count in zip(
            (*DURATION_BUCKETS, float("inf")), self._duration_buckets, strict=True
        ):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        histogram.add_metric(values, buckets, self._duration_sum)
        return histogram

    def _api_families(self, names: list[str], values: list[str]) -> Iterable[Metric]:
        now = self._clock()
        current = GaugeMetricFamily(
            f"{PREFIX}_api_condition",
            "1 for how the run treats the API now: normal, paused (Retry-After), outage, "
            "quota_spent.",
            labels=[*names, "condition"],
        )
        entered = CounterMetricFamily(
            f"{PREFIX}_api_condition_entered",
            "Times the run entered each condition: outages, spent quotas, pauses.",
            labels=[*names, "condition"],
        )
        seconds = CounterMetricFamily(
            f"{PREFIX}_api_condition_seconds",
            "Seconds the run spent in each condition.",
            labels=[*names, "condition"],
        )
        for condition in ApiCondition:
            spent = self._condition_seconds[condition]
            if condition is self._condition:
                spent += now - self._condition_since
            current.add_metric([*values, condition.value], condition is self._condition)
            entered.add_metric([*values, condition.value], self._condition_entered[condition])
            seconds.add_metric([*values, condition.value], spent)
        yield from (current, entered, seconds)
        rate = GaugeMetricFamily(
            f"{PREFIX}_rate_limit",
            "Requests per second the run holds itself to now: --rate, or less after a "
            "throttle (0: no limit).",
            labels=names,
        )
        rate.add_metric(values, self._rate_limit or 0.0)
        yield rate

    def _run_families(
        self,
        names: list[str],
        values: list[str],
        gauge: Callable[[str, str, float], Metric],
    ) -> Iterable[Metric]:
        yield gauge(
            "run_start_timestamp_seconds", "When the run started (Unix time).", self._started_at
        )
        duration = self._clock() - self._started if self._ended is None else self._ended[0]
        yield gauge("run_duration_seconds", "How long the run has run, or ran.", duration)
        yield gauge("run_finished", "1 once the run has ended.", self._ended is not None)
        if self._last_accepted_at is not None:
            yield gauge(
                "last_accepted_timestamp_seconds",
                "When the API last accepted a request (Unix time).",
                self._last_accepted_at,
            )
        if self._ended is not None:
            _, exit_code, all_ok = self._ended
            yield gauge("exit_code", "The run's exit status (README: exit codes).", exit_code)
            if all_ok:
                yield gauge(
                    "last_success_timestamp_seconds",
                    "When a run ended with every row ok (Unix time).",
                    self._wall_clock(),
                )
