"""What a run tells the outside while it goes: rows finished or skipped, and retries.

Logging, progress and any library user subscribe with a `RunObserver`; the engine knows
nothing of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from batch_uploader.client import Answer
from batch_uploader.manifest import ManifestRow
from batch_uploader.results import RowResult


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


class RunObserver:
    """Told about rows and retries as they happen. Every method does nothing here:
    subclass it and override what you need, so that new events never break an observer.
    """

    def on_row_finished(self, result: RowResult) -> None:
        """A row ended and its report line is written."""

    def on_row_skipped(self, row: ManifestRow, reason: SkipReason) -> None:
        """A row of the manifest is not this run's to send."""

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        """An attempt of `row` will be retried."""


class NullObserver(RunObserver):
    """An observer that ignores everything: the library default."""


class Observers(RunObserver):
    """Tells several observers the same thing."""

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = observers

    def on_row_finished(self, result: RowResult) -> None:
        for observer in self._observers:
            observer.on_row_finished(result)

    def on_row_skipped(self, row: ManifestRow, reason: SkipReason) -> None:
        for observer in self._observers:
            observer.on_row_skipped(row, reason)

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        for observer in self._observers:
            observer.on_retry(row, event)
