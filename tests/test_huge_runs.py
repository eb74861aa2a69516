"""Huge runs stay responsive: bulk cancelled lines, a second signal that ends the run, a loop
never held, a few log lines for a million identical problems, descriptors never `invalid`."""

from __future__ import annotations

import asyncio
import csv
import errno
import io
import json
import logging
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_uploader import Answer, RunObserver, Status, StopReason, upload_manifest
from batch_uploader.cli import open_files
from batch_uploader.cli.output import LoggingObserver
from batch_uploader.control import RunControl
from batch_uploader.errors import ConfigurationError
from batch_uploader.manifest import ManifestRow
from batch_uploader.multipart import FormFields
from batch_uploader.report import REPORT_COLUMNS, ReportWriter
from batch_uploader.results import RowResult

from .fakes import FakeClient, VirtualClock, upload_with_fake_client
from .support import ImageMaker, report_lines, run_settings, write_csv_manifest


def write_rows(tmp_path: Path, make_image: ImageMaker, count: int, image: str = "s.png") -> Path:
    make_image("s.png", size=300)
    rows = ((f"sub-{number}", image) for number in range(1, count + 1))
    return write_csv_manifest(tmp_path / "m.csv", rows)


class Recorder(RunObserver):
    def __init__(self) -> None:
        self.finished: list[RowResult] = []
        self.unsent = 0

    def on_row_finished(self, result: RowResult) -> None:
        self.finished.append(result)

    def on_unsent_cancelled(self, rows: int) -> None:
        self.unsent += rows


class StopAfter(FakeClient):
    """Accepts everything and stops the run (as a signal would) after `count` requests."""

    def __init__(self, clock: VirtualClock, control: RunControl, count: int) -> None:
        super().__init__(clock)
        self.control = control
        self.count = count

    async def put_images(self, fields: FormFields) -> Answer:
        answer = await super().put_images(fields)
        if len(self.starts) == self.count:
            self.control.stop(StopReason.TERMINATED)
        return answer


async def test_rows_never_started_get_their_cancelled_lines_in_bulk(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 12_000)
    clock, control, recorder = VirtualClock(), RunControl(), Recorder()
    summary = await upload_manifest(
        manifest,
        run_settings(tmp_path / "r.csv", concurrency=4),
        observer=recorder,
        control=control,
        client=StopAfter(clock, control, 10),
        clock=clock,
        sleep=clock.sleep,
    )
    lines = report_lines(tmp_path / "r.csv")
    assert sorted(int(line["row"]) for line in lines) == list(range(1, 12_001))
    assert summary.rows_by_status[Status.CANCELLED] == 12_000 - 10
    assert not summary.report_cut_off
    # The rows never started are told in bulk, not one `on_row_finished` each.
    assert recorder.unsent > 11_000
    assert len(recorder.finished) + recorder.unsent == 12_000
    cancelled = next(line for line in lines if int(line["row"]) == 12_000)
    assert cancelled["status"] == "cancelled"
    assert cancelled["message"] == "not finished: the run stopped early (terminated)"
    assert cancelled["attempts"] == "0"


class SteppingClock(VirtualClock):
    """A clock that moves on every time it is read, as a busy process's does."""

    def __call__(self) -> float:
        self.now += 0.2
        return self.now


async def test_a_second_signal_ends_the_run_and_resume_completes_it(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = write_rows(tmp_path, make_image, 20_000)
    clock, control = SteppingClock(), RunControl()

    class AbortAfter(StopAfter):
        async def put_images(self, fields: FormFields) -> Answer:
            answer = await super().put_images(fields)
            if len(self.starts) == self.count:
                control.abort(StopReason.TERMINATED)  # the second signal
            return answer

    settings = run_settings(tmp_path / "r.csv", concurrency=2)
    summary = await upload_manifest(
        manifest,
        settings,
        control=control,
        client=AbortAfter(clock, control, 5),
        clock=clock,
        sleep=clock.sleep,
    )
    assert summary.stop_reason is StopReason.TERMINATED
    assert summary.report_cut_off
    written = report_lines(tmp_path / "r.csv")
    assert 5 < len(written) < 20_000
    assert summary.rows == len(written)

    resumed = await upload_with_fake_client(
        manifest, run_settings(tmp_path / "r.csv", concurrency=8, resume=True), clock=clock
    )
    assert resumed.all_ok
    lines = report_lines(tmp_path / "r.csv")
    assert sorted(int(line["row"]) for line in lines) == list(range(1, 20_001))
    assert {line["status"] for line in lines} == {"ok"}


async def test_passing_over_rows_already_ok_lets_the_loop_run(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    """A resumed run passed over a million ok rows inside one `next()`: 17 s, no signal."""
    manifest = write_rows(tmp_path, make_image, 20_001)
    with (tmp_path / "r.csv").open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        for number in range(1, 20_001):
            writer.writerow(
                [
                    number,
                    f"sub-{number}",
                    "selfieImage",
                    "ok",
                    200,
                    "",
                    "",
                    1,
                    5,
                    "2026-11-30T00:00:00Z",
                ]
            )
    turns = 0
    turns_at_first_request: list[int] = []

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    class Noting(FakeClient):
        async def put_images(self, fields: FormFields) -> Answer:
            turns_at_first_request.append(turns)
            return await super().put_images(fields)

    clock = VirtualClock()
    ticking = asyncio.create_task(ticker())
    summary = await upload_manifest(
        manifest,
        run_settings(tmp_path / "r.csv", concurrency=1, resume=True),
        client=Noting(clock),
        clock=clock,
        sleep=clock.sleep,
    )
    ticking.cancel()
    assert summary.earlier_ok == 20_000
    # The loop ran after every 2,000 rows passed over by each of the two readers (the worker
    # and the reader ahead of it); a reader that never stepped aside would give it 1 turn.
    assert turns_at_first_request[0] >= 4


def test_bulk_cancelled_lines_are_the_lines_a_result_would_write() -> None:
    at = datetime(2026, 11, 30, 1, 2, 3, 456000, tzinfo=UTC)
    check_bulk_lines_match(["plain", 'with "quotes", commas', "new\nline", "é ü"], at)


@given(st.lists(st.text(min_size=1).filter(lambda text: "\r" not in text), max_size=5))
def test_bulk_cancelled_lines_match_for_any_submission_id(ids: list[str]) -> None:
    check_bulk_lines_match(ids, datetime(2026, 11, 30, tzinfo=UTC))


def check_bulk_lines_match(ids: list[str], at: datetime) -> None:
    rows = [
        ManifestRow(row=number, line=number + 1, values={"submissionId": sid, "idImage": "a.jpg"})
        for number, sid in enumerate(ids, start=1)
    ]
    message = "not finished: the run stopped early (interrupted)"
    for name in ("r.csv", "r.jsonl"):
        bulk, single = io.StringIO(), io.StringIO()
        jsonl = name.endswith(".jsonl")
        ReportWriter(bulk, path=Path(name), jsonl=jsonl).write_cancelled(
            [(row.row, row.submission_id, ";".join(row.image_fields)) for row in rows],
            message=message,
            finished_at=at,
        )
        one_by_one = ReportWriter(single, path=Path(name), jsonl=jsonl)
        for row in rows:
            one_by_one.write(
                RowResult(
                    row=row.row,
                    submission_id=row.submission_id,
                    fields=row.image_fields,
                    status=Status.CANCELLED,
                    message=message,
                    finished_at=at,
                )
            )
        assert bulk.getvalue() == single.getvalue()
        if jsonl and ids:
            assert json.loads(bulk.getvalue().split("\n")[0])["submissionId"] == ids[0]


def test_a_million_identical_problems_make_a_few_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observer = LoggingObserver()
    with caplog.at_level(logging.INFO, logger="batch_uploader"):
        for number in range(1, 5001):
            observer.on_row_finished(
                RowResult(
                    row=number,
                    submission_id=f"s{number}",
                    fields=("idImage",),
                    status=Status.INVALID,
                    error_code="file_not_found",
                    message=f"nfs/missing/{number % 7}/{number}.jpg does not exist",
                    problem_path=f"nfs/missing/{number % 7}/{number}.jpg",
                )
            )
        observer.on_row_finished(
            RowResult(
                row=5001,
                submission_id="s5001",
                fields=("idImage",),
                status=Status.FAILED,
                error_code="invalid_submission",
                message="unknown submission",
            )
        )
        observer.log_repeats()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 12
    assert messages[9].endswith("(further rows like this are counted, not logged one by one)")
    assert "row 5001 (s5001): failed invalid_submission" in messages[10]
    assert messages[11] == (
        f"and 4990 more rows invalid file_not_found under nfs{os.sep}missing{os.sep} "
        "(rows 11 to 5000; the report lists each)"
    )


def refuse_image_opens(
    monkeypatch: pytest.MonkeyPatch, error: OSError, times: int | None = None
) -> Counter[str]:
    """Make opening the test image fail with `error` (the first `times` times, or always)."""
    real_open = os.open
    refusals: Counter[str] = Counter()

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith("s.png") and (times is None or refusals["open"] < times):
            refusals["open"] += 1
            raise error
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr("batch_uploader.images.os.open", refusing_open)
    return refusals


async def run_with_virtual_time(tmp_path: Path, manifest: Path, concurrency: int) -> Any:
    clock = VirtualClock()
    summary = await clock.run(
        upload_manifest(
            manifest,
            run_settings(tmp_path / "r.csv", concurrency=concurrency),
            client=FakeClient(clock),
            clock=clock,
            sleep=clock.sleep,
        )
    )
    return summary, clock


async def test_out_of_descriptors_a_row_waits_and_is_never_invalid(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_rows(tmp_path, make_image, 20)
    refusals = refuse_image_opens(
        monkeypatch, OSError(errno.EMFILE, "Too many open files"), times=5
    )
    summary, _ = await run_with_virtual_time(tmp_path, manifest, concurrency=4)
    assert refusals["open"] == 5
    assert summary.all_ok
    assert {line["status"] for line in report_lines(tmp_path / "r.csv")} == {"ok"}


async def test_no_descriptor_for_a_minute_stops_the_run_with_no_row_invalid(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_rows(tmp_path, make_image, 20)
    refuse_image_opens(monkeypatch, OSError(errno.ENFILE, "Too many open files in system"))
    summary, clock = await run_with_virtual_time(tmp_path, manifest, concurrency=2)
    assert summary.stop_reason is StopReason.OUT_OF_FILES
    assert "Too many open files in system" in (summary.stop_detail or "")
    assert clock.now >= 60
    assert {line["status"] for line in report_lines(tmp_path / "r.csv")} == {"cancelled"}


class Limits:
    """`resource`'s open-file limit, as a test sets it."""

    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft: int, hard: int) -> None:
        self.soft, self.hard = soft, hard

    def getrlimit(self, which: int) -> tuple[int, int]:
        return self.soft, self.hard

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        if limits[0] > self.hard:
            raise ValueError("not allowed to raise maximum limit")
        self.soft, self.hard = limits


def test_the_soft_open_file_limit_is_raised_as_far_as_concurrency_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = Limits(soft=256, hard=4096)
    monkeypatch.setattr(open_files, "resource", limits)
    assert open_files.fit_concurrency(300) == 300
    assert limits.soft == open_files.descriptors_needed(300)


def test_a_concurrency_that_cannot_fit_is_lowered_saying_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(open_files, "resource", Limits(soft=256, hard=256))
    with caplog.at_level(logging.WARNING, logger="batch_uploader"):
        assert open_files.fit_concurrency(300) == (256 - 64) // 2
    assert "--concurrency 300 needs about 664 open files" in caplog.text
    assert "ulimit -n 664" in caplog.text


def test_a_limit_too_low_for_one_request_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open_files, "resource", Limits(soft=40, hard=40))
    with pytest.raises(ConfigurationError, match="may open only 40 files"):
        open_files.fit_concurrency(8)


async def test_a_yaml_manifest_broken_after_its_start_stops_the_run_keeping_its_rows(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("s.png", size=300)
    items = "".join(f"  - submissionId: s{n}\n    selfieImage: s.png\n" for n in range(1, 51))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("defaults:\n  admin: a@x.io\nsubmissions:\n" + items + "  - [broken\n")
    summary = await upload_with_fake_client(
        manifest, run_settings(tmp_path / "r.csv", concurrency=4)
    )
    assert summary.stop_reason is StopReason.MANIFEST_UNREADABLE
    assert "is not valid YAML" in (summary.stop_detail or "")
    lines = report_lines(tmp_path / "r.csv")
    assert sorted(int(line["row"]) for line in lines) == list(range(1, 51))
    assert {line["status"] for line in lines} == {"ok"}
