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
from typing import NoReturn, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from batch_uploader.cli.output import api_state_text
from batch_uploader.events import ApiCondition, ApiState, RunObserver
from batch_uploader.results import RowResult, Status

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
        self.total: int | None = None
        self.counts: Counter[Status] = Counter()
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

    @contextmanager
    def showing(self) -> Iterator[None]:
        """Show the bar (if any) for the duration; log lines are printed above it."""
        if self.mode != "bar":
            yield
            return
        bar: tqdm[NoReturn] = tqdm(
            total=self.total, unit="row", file=self._stream, dynamic_ncols=True
        )
        with bar, logging_redirect_tqdm(loggers=[logger]):
            self._bar = bar
            try:
                yield
            finally:
                self._bar = None

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def on_row_finished(self, result: RowResult) -> None:
        self.counts[result.status] += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(1)

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
        elapsed = self._clock() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        of_total = f"/{self.total}" if self.total is not None else ""
        text = f"progress: {self.done}{of_total} rows ({self._tally()}), {rate:.1f} rows/s"
        if self.total is not None and rate > 0:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        api = self._api_text()
        return f"{text}; {api}" if api else text

    def _tally(self) -> str:
        return ", ".join(f"{self.counts[status]} {status.value}" for status in Status)

    def _postfix(self) -> str:
        api = self._api_text()
        return f"{self._tally()}; {api}" if api else self._tally()

    def _api_text(self) -> str | None:
        """The API's state now, when it is anything but answering at full speed."""
        if self._api_state is None:
            return None
        told_ago = self._clock() - self._api_state_told_at
        return api_state_text(self._api_state, now=datetime.now(UTC), told_ago=told_ago)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
