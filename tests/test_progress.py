"""Progress as the operator sees it: a bar on a terminal, periodic lines elsewhere, or nothing."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from batch_uploader import RowResult, Status
from batch_uploader.cli.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def result(status: Status, row: int = 1) -> RowResult:
    return RowResult(row=row, submission_id=f"s{row}", fields=("selfieImage",), status=status)


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_follows_the_stream_and_quiet() -> None:
    assert Progress.for_stream(TerminalStream(), quiet=False).mode == "bar"
    assert Progress.for_stream(io.StringIO(), quiet=False).mode == "lines"
    assert Progress.for_stream(TerminalStream(), quiet=True).mode == "off"


def test_line_shows_done_total_tally_rate_and_time_left() -> None:
    clock = FakeClock()
    progress = Progress(stream=io.StringIO(), mode="lines", clock=clock)
    progress.set_total(100)
    for status in [Status.OK] * 8 + [Status.FAILED, Status.INVALID]:
        progress.on_row_finished(result(status))
    clock.now += 5
    assert progress.line() == (
        "progress: 10/100 rows (8 ok, 1 failed, 1 invalid, 0 cancelled), 2.0 rows/s, "
        "about 0m45s left"
    )


def test_line_without_a_total_has_no_estimate() -> None:
    progress = Progress(stream=io.StringIO(), mode="lines", clock=FakeClock())
    assert (
        progress.line() == "progress: 0 rows (0 ok, 0 failed, 0 invalid, 0 cancelled), 0.0 rows/s"
    )


async def test_lines_mode_logs_a_line_every_period(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress(stream=io.StringIO(), mode="lines", clock=FakeClock())
    periods: list[float] = []

    async def sleep(seconds: float) -> None:
        periods.append(seconds)
        if len(periods) == 3:
            raise asyncio.CancelledError

    with (
        caplog.at_level(logging.INFO, logger="batch_uploader"),
        pytest.raises(asyncio.CancelledError),
    ):
        await progress.print_lines(sleep=sleep)
    assert periods == [10.0, 10.0, 10.0]
    assert [record.getMessage()[:9] for record in caplog.records] == ["progress:"] * 2


async def never_sleep(seconds: float) -> None:
    pytest.fail(f"slept {seconds} s")


async def test_bar_and_off_modes_print_no_lines() -> None:
    for mode in ("bar", "off"):
        progress = Progress(stream=io.StringIO(), mode=mode)
        await progress.print_lines(sleep=never_sleep)  # returns before sleeping


def test_bar_draws_on_the_stream_with_the_tally() -> None:
    stream = TerminalStream()
    progress = Progress(stream=stream, mode="bar")
    with progress.showing():
        progress.set_total(2)
        progress.on_row_finished(result(Status.OK))
        progress.on_row_finished(result(Status.FAILED, row=2))
    drawn = stream.getvalue()
    assert "2/2" in drawn
    assert "1 ok, 1 failed" in drawn
