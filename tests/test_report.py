"""The report file: columns, formats, line-by-line flushing, mode 0600, no silent replacing."""

from __future__ import annotations

import csv
import io
import json
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_uploader import RowResult, Status
from batch_uploader.errors import ReportExistsError
from batch_uploader.report import (
    REPORT_COLUMNS,
    csv_result_line,
    default_report_path,
    report_record,
)
from batch_uploader.report_file import ReportMode, open_report

FAILED = RowResult(
    row=3,
    submission_id="sub-3",
    fields=("idImage", "idBackImage"),
    status=Status.FAILED,
    http_status=400,
    error_code="processing_error",
    message="Failed to put image.",
    attempts=5,
    elapsed_ms=1234,
    finished_at=datetime(2026, 11, 27, 10, 0, 1, 500000, tzinfo=UTC),
)
INVALID = RowResult(
    row=4,
    submission_id="sub-4",
    fields=("selfieImage",),
    status=Status.INVALID,
    error_code="file_not_found",
    message="a.png does not exist",
    finished_at=datetime(2026, 11, 27, 10, 0, 2, tzinfo=UTC),
)


def test_csv_report_has_the_columns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with open_report(path, ReportMode.NEW).writer as report:
        report.write(FAILED)
        report.write(INVALID)
    with path.open(newline="") as file:
        lines = list(csv.reader(file))
    assert (
        tuple(lines[0])
        == REPORT_COLUMNS
        == (
            "row",
            "submissionId",
            "fields",
            "status",
            "httpStatus",
            "errorCode",
            "message",
            "attempts",
            "elapsedMs",
            "finishedAt",
        )
    )
    assert lines[1] == [
        "3",
        "sub-3",
        "idImage;idBackImage",
        "failed",
        "400",
        "processing_error",
        "Failed to put image.",
        "5",
        "1234",
        "2026-11-27T10:00:01.500Z",
    ]
    assert lines[2][3:8] == ["invalid", "", "file_not_found", "a.png does not exist", "0"]


def test_jsonl_report_has_the_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "r.JSONL"
    with open_report(path, ReportMode.NEW).writer as report:
        report.write(INVALID)
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert tuple(record) == REPORT_COLUMNS
    assert record["row"] == 4
    assert record["httpStatus"] is None
    assert record["status"] == "invalid"


def test_each_line_is_on_disk_as_soon_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with open_report(path, ReportMode.NEW).writer as report:
        report.write(FAILED)
        assert len(path.read_text().splitlines()) == 2
        report.write(INVALID)
        assert len(path.read_text().splitlines()) == 3


def test_report_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with open_report(path, ReportMode.NEW).writer:
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_report_is_refused_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("keep me")
    with pytest.raises(ReportExistsError, match="exists already") as refusal:
        open_report(path, ReportMode.NEW)
    assert refusal.value.path == path
    assert path.read_text() == "keep me"


def test_overwrite_replaces_and_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("old line\n" * 10)
    path.chmod(0o644)
    with open_report(path, ReportMode.OVERWRITE).writer as report:
        report.write(INVALID)
    assert "old line" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_report_name_is_the_manifest_stem_here() -> None:
    assert default_report_path(Path("/data/nightly.yaml")) == Path("nightly.report.csv")


@given(
    st.builds(
        RowResult,
        row=st.integers(1, 10**7),
        submission_id=st.text(),
        fields=st.lists(st.sampled_from(["idImage", "idBackImage", "selfieImage"]), max_size=3).map(
            tuple
        ),
        status=st.sampled_from(Status),
        http_status=st.none() | st.integers(100, 599),
        error_code=st.text(),
        message=st.text(),
        attempts=st.integers(0, 10),
        elapsed_ms=st.integers(0, 10**6),
        finished_at=st.datetimes(timezones=st.just(UTC)),
    )
)
def test_a_rows_line_is_the_line_the_csv_module_writes(result: RowResult) -> None:
    expected = io.StringIO()
    cells = ["" if value is None else value for value in report_record(result).values()]
    csv.writer(expected, lineterminator="\n").writerow(cells)
    assert csv_result_line(result) == expected.getvalue()


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(2100, 1, 1),
            timezones=st.builds(
                timezone,
                st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)),
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_finished_at_is_the_utc_instant_to_the_millisecond(moments: list[datetime]) -> None:
    # Several in a row: the formatting keeps the last second's text, and must not reuse it
    # for another second.
    for moment in moments:
        result = RowResult(
            row=1, submission_id="s", fields=(), status=Status.OK, finished_at=moment
        )
        utc = moment.astimezone(UTC).replace(tzinfo=None)
        expected = utc.isoformat(timespec="milliseconds") + "Z"
        assert report_record(result)["finishedAt"] == expected
        assert csv_result_line(result).endswith(f",{expected}\n")
