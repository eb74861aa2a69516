"""Progress as the operator sees it: a bar on a terminal, periodic lines elsewhere, or nothing."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import UTC, datetime

import pytest

from batch_uploader import ApiCondition, ApiState, RowResult, Status
from batch_uploader.cli.output import api_state_text
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


def test_progress_lines_say_what_the_api_is_doing() -> None:
    clock = FakeClock()
    progress = Progress(stream=io.StringIO(), mode="lines", clock=clock)
    progress.on_api_state(ApiState(condition=ApiCondition.OUTAGE, failing_for=40, next_probe_in=8))
    clock.now += 5
    assert re.search(
        r"; API failing for 45 s, probing; next probe at \d\d:\d\d:\d\d UTC$", progress.line()
    )
    progress.on_api_state(ApiState(condition=ApiCondition.QUOTA_SPENT, next_probe_in=600))
    assert re.search(r"; paused: quota spent, next probe at \d\d:\d\d:\d\d UTC$", progress.line())
    progress.on_api_state(ApiState(condition=ApiCondition.NORMAL, rate_limit=35.0))
    assert progress.line().endswith("; API throttling: holding the run to 35.0 requests/s")
    progress.on_api_state(ApiState(condition=ApiCondition.NORMAL))
    assert "API" not in progress.line()


def test_the_next_probe_time_is_the_wall_clock_time_it_will_happen() -> None:
    now = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)
    state = ApiState(condition=ApiCondition.QUOTA_SPENT, next_probe_in=300)
    assert api_state_text(state, now=now) == "paused: quota spent, next probe at 14:05:00 UTC"
    assert api_state_text(state, now=now, told_ago=60) == (
        "paused: quota spent, next probe at 14:04:00 UTC"
    )
