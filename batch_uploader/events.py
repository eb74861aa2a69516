"""What a run tells the outside while it goes: rows finished or skipped, retries, and the
API's state as the run sees it.

Logging, progress and any library user subscribe with a `RunObserver`; the engine knows
nothing of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from batch_uploader.results import RowResult

if TYPE_CHECKING:
    # Only named in annotations: logging and progress import this module, and neither
    # needs aiohttp (which `client` brings) to print `--help`.
    from batch_uploader.client import Answer
    from batch_uploader.manifest import ManifestRow
    from batch_uploader.multipart import FormFields


# Not frozen: one is made per request (see `RowResult`).
@dataclass(slots=True)
class RequestEvent:
    """One HTTP attempt ended: its answer (or why there was none), how long it took, and the
    fields it sent (never logged: they hold the images)."""

    answer: Answer
    seconds: float
    fields: FormFields = field(repr=False)

    @property
    def body_bytes(self) -> int:
        """The size of the body sent; worked out only when asked (metrics), not per request."""
        from batch_uploader.multipart import body_size  # noqa: PLC0415 (aiohttp, see above)

        return body_size(self.fields)


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """An attempt failed in a retryable way and another will follow after `wait` seconds."""

    attempt: int
    wait: float
    answer: Answer


class SkipReason(StrEnum):
    """Why a row of the manifest is not sent by this run."""

    OUTSIDE_SHARD = "outside_shard"  # another shard's row (--shard); no report line
    EARLIER_OK = "earlier_ok"  # ok in the report being resumed; its line is kept


class ApiCondition(StrEnum):
    """The API as a whole, as the run sees it."""

    NORMAL = "normal"  # sending freely (perhaps slower after a throttle)
    PAUSED = "paused"  # a Retry-After asked the run to wait
    OUTAGE = "outage"  # the API keeps failing: one probe at growing intervals
    QUOTA_SPENT = "quota_spent"  # the key's quota is spent: one probe every interval


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiState:
    """A change in how the run treats the API.

    `failing_for` is how long the API had not answered when the state began (an outage);
    `next_probe_in` when the next single request will try it (an outage, a spent quota);
    `resume_in` when a pause ends; `rate_limit` the requests per second the run holds itself
    to after a throttle (None: no limit of its own).
    """

    condition: ApiCondition
    failing_for: float = 0.0
    next_probe_in: float | None = None
    resume_in: float | None = None
    rate_limit: float | None = None


class RunObserver:
    """Told about rows and retries as they happen. Every method does nothing here:
    subclass it and override what you need, so that new events never break an observer.
    """

    def on_resuming(self, earlier_ok: int) -> None:
        """Before any row: the report being resumed holds `earlier_ok` rows finished `ok`,
        which this run will skip (each with `on_row_skipped`)."""

    def on_row_finished(self, result: RowResult) -> None:
        """A row ended and its report line is written."""

    def on_unsent_cancelled(self, rows: int) -> None:
        """After a stop: this many more rows never started got their `cancelled` lines, in
        bulk. They come here, not to `on_row_finished`: nothing was done for them."""

    def on_row_skipped(self, row: ManifestRow, reason: SkipReason) -> None:
        """A row of the manifest is not this run's to send."""

    def on_request(self, event: RequestEvent) -> None:
        """An HTTP attempt ended (answered or not); retries and probes included."""

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        """An attempt of `row` will be retried."""

    def on_api_state(self, state: ApiState) -> None:
        """The run changed how it treats the API: paused, probing, throttled, or back."""


class NullObserver(RunObserver):
    """An observer that ignores everything: the library default."""


class Observers(RunObserver):
    """Tells several observers the same thing.

    Each request and each row goes only to the observers that listen for it: most leave
    `on_request` as RunObserver's no-op, and it runs for every request.
    """

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = observers
        self._request_hooks = _listening(observers, "on_request")
        self._row_hooks = _listening(observers, "on_row_finished")

    def on_resuming(self, earlier_ok: int) -> None:
        for observer in self._observers:
            observer.on_resuming(earlier_ok)

    def on_row_finished(self, result: RowResult) -> None:
        for hook in self._row_hooks:
            hook(result)

    def on_unsent_cancelled(self, rows: int) -> None:
        for observer in self._observers:
            observer.on_unsent_cancelled(rows)

    def on_row_skipped(self, row: ManifestRow, reason: SkipReason) -> None:
        for observer in self._observers:
            observer.on_row_skipped(row, reason)

    def on_request(self, event: RequestEvent) -> None:
        for hook in self._request_hooks:
            hook(event)

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        for observer in self._observers:
            observer.on_retry(row, event)

    def on_api_state(self, state: ApiState) -> None:
        for observer in self._observers:
            observer.on_api_state(state)


def _listening(observers: tuple[RunObserver, ...], hook: str) -> tuple[Callable[[Any], None], ...]:
    """The observers' `hook` methods, but for those that keep RunObserver's no-op."""
    ignored = getattr(RunObserver, hook)
    methods = [getattr(observer, hook) for observer in observers]
    return tuple(method for method in methods if getattr(method, "__func__", None) is not ignored)
