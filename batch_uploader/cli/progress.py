"""What the operator sees while a run goes: log lines per problem, and progress.

On a terminal progress is a live bar; elsewhere (cron, CI, a pod's log) it is a plain line
every 10 seconds. Both subscribe to the run's events as `RunObserver`s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn, TextIO

from batch_uploader.cli.output import api_state_text, duration_text
from batch_uploader.events import ApiCondition, ApiState, RunObserver
from batch_uploader.results import RowResult, Status

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger("batch_uploader")

PROGRESS_LINE_SECONDS = 10.0


class Progress(RunObserver):
    """Counts finished rows and shows them as a bar, as periodic lines, or not at all."""

    def __init__(
        self,
        *,
        stream: TextIO,
        mode: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in {"bar", "lines", "off"}:
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        # The rows in scope: the manifest's rows in this shard (counted meanwhile), less
        # those an earlier run finished ok. Rows skipped are in neither total nor rate.
        self._rows_in_shard: int | None = None
        self._earlier_ok = 0
        self.counts: Counter[Status] = Counter()
        self.unsent_cancelled = 0
        self._stopped_at: float | None = None
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._bar: tqdm[NoReturn] | None = None
        self._api_state: ApiState | None = None
        self._api_state_told_at = 0.0

    @classmethod
    def for_stream(cls, stream: TextIO, *, quiet: bool, plain: bool = False) -> Progress:
        """A bar on a terminal (unless `plain`), lines elsewhere, nothing when quiet."""
        mode = "off" if quiet else "bar" if stream.isatty() and not plain else "lines"
        return cls(stream=stream, mode=mode)

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def total(self) -> int | None:
        if self._rows_in_shard is None:
            return None
        return max(self._rows_in_shard - self._earlier_ok, 0)

    @contextmanager
    def showing(self) -> Iterator[None]:
        """Show the bar (if any) for the duration; log lines are printed above it."""
        if self.mode != "bar":
            yield
            return
        # tqdm takes 25 ms to import: only a bar on a terminal needs it.
        from tqdm import tqdm  # noqa: PLC0415
        from tqdm.contrib.logging import logging_redirect_tqdm  # noqa: PLC0415

        bar: tqdm[NoReturn] = tqdm(
            total=self.total, unit="row", file=self._stream, dynamic_ncols=True
        )
        with bar, logging_redirect_tqdm(loggers=[logger]):
            self._bar = bar
            try:
                yield
            finally:
                self._bar = None

    def set_total(self, rows_in_shard: int) -> None:
        """The manifest's rows that are this run's shard (all rows without --shard)."""
        self._rows_in_shard = rows_in_shard
        self._show_total()

    def on_resuming(self, earlier_ok: int) -> None:
        self._earlier_ok = earlier_ok
        self._show_total()

    def _show_total(self) -> None:
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def finish(self, *, completed: bool) -> None:
        """The run is over. A completed run finished every row in scope, whether or not the
        count (in another process) got there first: the total is what was done."""
        if completed:
            self._rows_in_shard, self._earlier_ok = self.done, 0
            self._show_total()

    def on_row_finished(self, result: RowResult) -> None:
        self.counts[result.status] += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(1)

    def on_unsent_cancelled(self, rows: int) -> None:
        # Writing these lines is not progress: the count and the rate stay where the stop
        # left them, and the bar says what is happening.
        if self._stopped_at is None:
            self._stopped_at = self._clock()
        self.unsent_cancelled += rows
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix())

    def on_api_state(self, state: ApiState) -> None:
        normal = state.condition is ApiCondition.NORMAL and state.rate_limit is None
        self._api_state = None if normal else state
        self._api_state_told_at = self._clock()
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix())

    async def print_lines(
        self,
        *,
        every: float = PROGRESS_LINE_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """In "lines" mode, log a progress line every `every` seconds until cancelled."""
        if self.mode != "lines":
            return
        while True:
            await sleep(every)
            logger.info("%s", self.line())

    def line(self) -> str:
        """A one-line progress report: rows done, by status, rate and time left."""
        elapsed = (self._stopped_at or self._clock()) - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        of_total = f"/{self.total}" if self.total is not None else ""
        text = f"progress: {self.done}{of_total} rows ({self._tally()}), {rate:.1f} rows/s"
        if self._stopped_at is not None:
            text += f"; stopping: {self._stopping_text()}"
        elif self.total is not None and rate > 0:
            text += f", about {duration_text(max(self.total - self.done, 0) / rate)} left"
        api = self._api_text()
        return f"{text}; {api}" if api else text

    def _tally(self) -> str:
        return ", ".join(f"{self.counts[status]} {status.value}" for status in Status)

    def _stopping_text(self) -> str:
        return f"{self.unsent_cancelled} rows never started marked cancelled"

    def _postfix(self) -> str:
        if self._stopped_at is not None:
            return f"{self._tally()}; stopping: {self._stopping_text()}"
        api = self._api_text()
        return f"{self._tally()}; {api}" if api else self._tally()

    def _api_text(self) -> str | None:
        """The API's state now, when it is anything but answering at full speed."""
        if self._api_state is None:
            return None
        told_ago = self._clock() - self._api_state_told_at
        return api_state_text(self._api_state, now=datetime.now(UTC), told_ago=told_ago)
