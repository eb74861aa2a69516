"""Stopping early: refused credentials, budgets, failures, and stops from outside (signals)."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batch_uploader import (
    Answer,
    RowResult,
    RunObserver,
    RunSettings,
    Status,
    StopReason,
    upload_manifest,
)
from batch_uploader.control import RunControl
from batch_uploader.mock.server import MockConfig, running_mock_server
from batch_uploader.multipart import FormFields

from .fakes import PROCESSING_ERROR, FakeClient, VirtualClock
from .support import API_KEY, ImageMaker, run_settings, write_csv_manifest


def write_rows(tmp_path: Path, make_image: ImageMaker, count: int) -> Path:
    make_image("s.png", size=300)
    rows = ((f"sub-{number}", "s.png") for number in range(1, count + 1))
    return write_csv_manifest(tmp_path / "m.csv", rows)


def settings_for(tmp_path: Path, **overrides: Any) -> RunSettings:
    return run_settings(tmp_path / "report.csv", **overrides)


def report_statuses(tmp_path: Path) -> tuple[Counter[str], int]:
    with (tmp_path / "report.csv").open(newline="") as file:
        lines = list(csv.DictReader(file))
    assert len({line["row"] for line in lines}) == len(lines), "one line per row"
    return Counter(line["status"] for line in lines), len(lines)


async def test_403_stops_a_10000_row_run_within_concurrency_plus_one_requests(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 10_000)
    async with running_mock_server(MockConfig(api_key="the-real-key")) as server:
        summary = await upload_manifest(
            manifest, settings_for(tmp_path, base_url=server.url, concurrency=8)
        )
    assert summary.stop_reason is StopReason.CREDENTIALS_REFUSED
    assert 1 <= server.received.requests <= 8 + 1
    statuses, lines = report_statuses(tmp_path)
    assert lines == 10_000
    assert statuses == {
        "failed": server.received.requests,
        "cancelled": 10_000 - statuses["failed"],
    }


async def test_invalid_project_stops_the_run(tmp_path: Path, make_image: ImageMaker) -> None:
    manifest = write_rows(tmp_path, make_image, 50)
    config = MockConfig(api_key=API_KEY, inactive_project=True)
    async with running_mock_server(config) as server:
        summary = await upload_manifest(
            manifest, settings_for(tmp_path, base_url=server.url, concurrency=2)
        )
    assert summary.stop_reason is StopReason.CREDENTIALS_REFUSED
    assert server.received.requests <= 3
    assert report_statuses(tmp_path)[1] == 50


async def test_max_requests_is_a_hard_budget(tmp_path: Path, make_image: ImageMaker) -> None:
    manifest = write_rows(tmp_path, make_image, 40)
    clock = VirtualClock()
    # Half the rows need a retry: retries spend the budget too.
    client = FakeClient(
        clock,
        lambda submission, attempt: (
            PROCESSING_ERROR
            if attempt == 1 and int(submission[4:]) % 2
            else Answer(http_status=200)
        ),
    )
    summary = await upload_manifest(
        manifest,
        settings_for(tmp_path, concurrency=4, max_requests=15),
        client=client,
        sleep=clock.sleep,
    )
    assert len(client.starts) == 15
    assert summary.requests == 15
    assert summary.stop_reason is StopReason.MAX_REQUESTS
    statuses, lines = report_statuses(tmp_path)
    assert lines == 40
    assert statuses["ok"] + statuses["cancelled"] == 40


async def test_max_failures_stops_after_that_many_failed_rows(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 100)
    client = FakeClient(
        VirtualClock(),
        lambda submission, attempt: Answer(http_status=400, error_code="invalid_submission"),
    )
    summary = await upload_manifest(
        manifest, settings_for(tmp_path, concurrency=1, max_failures=3), client=client
    )
    assert summary.stop_reason is StopReason.MAX_FAILURES
    statuses, lines = report_statuses(tmp_path)
    assert statuses == {"failed": 3, "cancelled": 97}
    assert lines == 100


class StopAfter(RunObserver):
    """An observer that stops the run, as a signal would, once `count` rows have finished."""

    def __init__(self, control: RunControl, count: int, *, abort: bool = False) -> None:
        self.control = control
        self.count = count
        self.abort = abort
        self.finished = 0

    def on_row_finished(self, result: RowResult) -> None:
        self.finished += 1
        if self.finished == self.count:
            if self.abort:
                self.control.abort(StopReason.INTERRUPTED)
            else:
                self.control.stop(StopReason.TERMINATED)


async def test_a_stop_lets_requests_in_flight_finish(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 60)
    control = RunControl()
    config = MockConfig(api_key=API_KEY, latency_seconds=0.01)
    async with running_mock_server(config) as server:
        summary = await upload_manifest(
            manifest,
            settings_for(tmp_path, base_url=server.url, concurrency=4),
            control=control,
            observer=StopAfter(control, 10),
        )
    assert summary.stop_reason is StopReason.TERMINATED
    statuses, lines = report_statuses(tmp_path)
    assert lines == 60
    # The rows in flight when the stop came (at most the concurrency) still finished ok.
    assert 10 <= statuses["ok"] <= 10 + 4
    assert statuses["ok"] == server.received.requests == len(server.received.accepted)
    assert statuses["cancelled"] == 60 - statuses["ok"]


class HangingClient:
    """Never answers until cancelled, like a server that went silent.

    `accepted_at_once` picks requests, numbered from 1, that it accepts at once instead.
    """

    def __init__(
        self, concurrency: int, *, accepted_at_once: Callable[[int], bool] = lambda number: False
    ) -> None:
        self.concurrency = concurrency
        self.accepted_at_once = accepted_at_once
        self.started = 0
        self.hanging = 0
        self.cancelled = 0
        self.all_hanging = asyncio.Event()

    async def put_images(self, fields: FormFields) -> Answer:
        self.started += 1
        if self.accepted_at_once(self.started):
            return Answer(http_status=200)
        self.hanging += 1
        if self.hanging == self.concurrency:
            self.all_hanging.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


async def test_abort_cuts_requests_in_flight_and_still_reports_every_row(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 30)
    control = RunControl()
    client = HangingClient(concurrency=3)

    async def abort_when_all_hang() -> None:
        await client.all_hanging.wait()
        control.abort(StopReason.INTERRUPTED)

    aborter = asyncio.create_task(abort_when_all_hang())
    summary = await upload_manifest(
        manifest, settings_for(tmp_path, concurrency=3), control=control, client=client
    )
    await aborter
    assert summary.stop_reason is StopReason.INTERRUPTED
    assert client.cancelled == 3
    statuses, lines = report_statuses(tmp_path)
    assert statuses == {"cancelled": 30}
    assert lines == 30


async def test_two_aborts_in_one_tick_still_report_every_row(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    """A third Ctrl-C lands in the same loop tick as the second: rows in flight vanished."""
    manifest = write_rows(tmp_path, make_image, 10)
    control = RunControl()
    client = HangingClient(concurrency=3)

    async def abort_twice_when_all_hang() -> None:
        await client.all_hanging.wait()
        control.abort(StopReason.INTERRUPTED)
        control.abort(StopReason.INTERRUPTED)

    aborter = asyncio.create_task(abort_twice_when_all_hang())
    summary = await upload_manifest(
        manifest, settings_for(tmp_path, concurrency=3), control=control, client=client
    )
    await aborter
    assert summary.stop_reason is StopReason.INTERRUPTED
    assert report_statuses(tmp_path) == (Counter({"cancelled": 10}), 10)
    # The three requests that were cut off were sent: their rows say one attempt each.
    with (tmp_path / "report.csv").open(newline="") as file:
        attempts = Counter(line["attempts"] for line in csv.DictReader(file))
    assert attempts == {"1": 3, "0": 7}


async def test_cancelling_the_run_itself_is_not_taken_for_an_abort(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 30)
    # Only the first requests hang, so a run that wrongly went on would end, not hang.
    client = HangingClient(concurrency=3, accepted_at_once=lambda number: number > 3)
    run = asyncio.create_task(
        upload_manifest(manifest, settings_for(tmp_path, concurrency=3), client=client)
    )
    await client.all_hanging.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert run.cancelled()
    assert client.cancelled == 3
    # No row was recorded as cancelled by a stop that never happened.
    assert report_statuses(tmp_path) == (Counter(), 0)


async def test_an_abort_from_inside_a_worker_still_reports_every_row(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 30)
    control = RunControl()
    client = HangingClient(concurrency=3, accepted_at_once=lambda number: number == 1)
    summary = await upload_manifest(
        manifest,
        settings_for(tmp_path, concurrency=3),
        control=control,
        client=client,
        observer=StopAfter(control, 1, abort=True),
    )
    assert summary.stop_reason is StopReason.INTERRUPTED
    assert report_statuses(tmp_path) == (Counter({"ok": 1, "cancelled": 29}), 30)


async def test_rows_waiting_to_retry_are_cancelled_by_a_stop(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 5)
    control = RunControl()
    waiting = 0

    async def long_backoff(seconds: float) -> None:
        nonlocal waiting
        waiting += 1
        if waiting == 5:
            control.stop(StopReason.TERMINATED)
        await asyncio.Event().wait()

    client = FakeClient(VirtualClock(), lambda submission, attempt: PROCESSING_ERROR)
    summary = await upload_manifest(
        manifest,
        settings_for(tmp_path, concurrency=5),
        control=control,
        client=client,
        sleep=long_backoff,
    )
    assert summary.rows_by_status[Status.CANCELLED] == 5
    with (tmp_path / "report.csv").open(newline="") as file:
        lines = list(csv.DictReader(file))
    assert {(line["attempts"], line["httpStatus"], line["errorCode"]) for line in lines} == {
        ("1", "400", "processing_error")
    }
    # The retries never happened: the stop came while every row waited for its turn.
    assert (summary.requests, summary.retries) == (5, 0)


class LoopWatcher(RunObserver):
    """Queues a callback when the first row finishes, and notes how many rows had finished
    by the time the event loop got to run it (a signal handler waits the same way)."""

    def __init__(self) -> None:
        self.finished = 0
        self.finished_when_loop_ran: int | None = None

    def loop_ran(self) -> None:
        self.finished_when_loop_ran = self.finished

    def on_row_finished(self, result: RowResult) -> None:
        self.finished += 1
        if self.finished == 1:
            asyncio.get_running_loop().call_soon(self.loop_ran)


async def test_rows_that_need_no_io_do_not_hold_the_event_loop(tmp_path: Path) -> None:
    """5,000 rows whose images are missing: a signal handler must still get its turn soon."""
    manifest = write_csv_manifest(
        tmp_path / "m.csv", ((f"s{n}", f"missing/{n}.png") for n in range(5000))
    )
    watcher = LoopWatcher()
    summary = await upload_manifest(
        manifest, settings_for(tmp_path), observer=watcher, client=FakeClient(VirtualClock())
    )
    assert summary.rows_by_status[Status.INVALID] == 5000
    assert watcher.finished_when_loop_ran is not None
    assert watcher.finished_when_loop_ran <= 20  # a row or so per worker (8)
