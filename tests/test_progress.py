"""Progress as the operator sees it: a bar on a terminal, periodic lines elsewhere, or nothing."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch_uploader import ApiCondition, ApiState, RowResult, Status, upload_manifest
from batch_uploader.cli.output import api_state_text
from batch_uploader.cli.progress import Progress
from batch_uploader.cli.row_count import count_in_child
from batch_uploader.cli.runtime import stop_on_signals_and_show_progress
from batch_uploader.manifest import count_rows
from batch_uploader.sharding import Shard

from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, run_settings, write_csv_manifest


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


def test_the_total_is_the_rows_in_scope_and_stopping_freezes_the_rate() -> None:
    clock = FakeClock()
    progress = Progress(stream=io.StringIO(), mode="lines", clock=clock)
    progress.set_total(741)  # the rows of this shard, counted meanwhile
    progress.on_resuming(241)  # of which an earlier run finished these
    for number in range(1, 101):
        progress.on_row_finished(result(Status.OK, row=number))
    clock.now += 10
    assert progress.line().startswith("progress: 100/500 rows (100 ok, 0 failed")
    assert progress.line().endswith("10.0 rows/s, about 0m40s left")
    progress.on_unsent_cancelled(400)
    clock.now += 50
    assert progress.line().endswith(
        "0 cancelled), 10.0 rows/s; stopping: 400 rows never started marked cancelled"
    )


def test_a_completed_run_ends_the_bar_at_total_of_total() -> None:
    stream = TerminalStream()
    progress = Progress(stream=stream, mode="bar")
    with progress.showing():
        progress.on_resuming(5)  # the count has not come yet
        for number in range(1, 4):
            progress.on_row_finished(result(Status.OK, row=number))
        progress.finish(completed=True)
    assert progress.total == progress.done == 3
    assert "3/3" in stream.getvalue()


async def test_the_count_in_a_child_process_counts_the_rows_of_the_shard(tmp_path: Path) -> None:
    ids = [f"sub-{number}" for number in range(1, 3001)]
    manifest = write_csv_manifest(tmp_path / "m.csv", ((sid, "a.png") for sid in ids))
    shard = Shard(1, 4)
    in_shard = sum(1 for sid in ids if shard.holds(sid))
    assert 0 < in_shard < 3000
    assert await count_in_child(manifest, shard) == in_shard
    assert count_rows(manifest, shard.holds) == in_shard
    assert await count_in_child(manifest, None) == 3000
    assert await count_in_child(tmp_path / "missing.csv", None) is None


async def test_a_sharded_run_shows_the_rows_of_its_shard(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("a.png", size=300)
    ids = [f"sub-{number}" for number in range(1, 3001)]
    manifest = write_csv_manifest(tmp_path / "m.csv", ((sid, "a.png") for sid in ids))
    shard = Shard(1, 4)
    in_shard = sum(1 for sid in ids if shard.holds(sid))
    stream = TerminalStream()
    progress = Progress(stream=stream, mode="bar")
    clock = VirtualClock()
    settings = run_settings(tmp_path / "r.csv", shard=shard)
    summary = await stop_on_signals_and_show_progress(
        manifest,
        progress,
        lambda observer, control: upload_manifest(
            manifest, settings, observer=observer, control=control, client=FakeClient(clock)
        ),
        shard=shard,
    )
    assert summary.rows == in_shard
    assert progress.total == progress.done == in_shard
    assert f"{in_shard}/{in_shard}" in stream.getvalue()
    assert "3000" not in stream.getvalue()
