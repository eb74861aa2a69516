"""--resume: earlier ok lines kept as they were, only unfinished rows sent again."""

from __future__ import annotations

import csv
import json
import stat
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from batch_uploader import RunSettings, Status, StopReason, upload_manifest
from batch_uploader.errors import ConfigurationError
from batch_uploader.mock.server import MockConfig, running_mock_server
from batch_uploader.report import REPORT_COLUMNS, ReportWriter
from batch_uploader.report_file import EarlierOkRows, ReportMode, open_report

from .support import API_KEY, ImageMaker, run_settings, write_csv_manifest

HEADER = ",".join(REPORT_COLUMNS)


def csv_line(row: int, submission_id: str, status: str) -> str:
    return f"{row},{submission_id},selfieImage,{status},200,,fine,1,12,2026-11-27T10:00:00.000Z"


def resume(path: Path) -> tuple[ReportWriter, EarlierOkRows]:
    opened = open_report(path, ReportMode.RESUME)
    return opened.writer, opened.earlier_ok


def test_earlier_ok_rows_match_row_and_submission() -> None:
    earlier = EarlierOkRows()
    assert earlier.add(3, "sub-3")
    assert not earlier.add(3, "sub-3")
    assert (3, "sub-3") in earlier
    assert (3, "sub-other") not in earlier
    assert (4, "sub-3") not in earlier
    assert (10_000, "x") not in earlier
    assert earlier.count == 1


def test_csv_report_keeps_only_ok_lines_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    ok_lines = [csv_line(1, "s1", "ok"), csv_line(4, '"s,4"', "ok")]
    path.write_text(
        "\n".join(
            [HEADER, ok_lines[0], csv_line(2, "s2", "failed"), csv_line(3, "s3", "cancelled"),
             ok_lines[1], csv_line(5, "s5", "invalid"), "6,s6,selfieImage,o"]
        )
    )  # fmt: skip
    path.chmod(0o644)
    writer, earlier = resume(path)
    with writer:
        assert path.read_text().splitlines() == [HEADER, *ok_lines]
    assert (1, "s1") in earlier
    assert (4, "s,4") in earlier
    assert (2, "s2") not in earlier
    assert earlier.count == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_jsonl_report_survives_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    records = [
        dict(
            zip(REPORT_COLUMNS, [1, "s1", "idImage", "ok", 200, None, "m", 1, 5, "t"], strict=True)
        ),
        dict(
            zip(
                REPORT_COLUMNS,
                [2, "s2", "idImage", "failed", 400, "x", "m", 5, 5, "t"],
                strict=True,
            )
        ),
    ]
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    path.write_text("\n".join(lines) + '\n{"row": 3, "submissionId": "s3", "fie')
    writer, earlier = resume(path)
    with writer:
        pass
    assert path.read_text().splitlines() == [lines[0]]
    assert (1, "s1") in earlier


def test_a_file_that_is_not_a_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("name,email\nx,y\n")
    with pytest.raises(ConfigurationError, match="not a batch-uploader report"):
        open_report(path, ReportMode.RESUME)
    assert path.read_text() == "name,email\nx,y\n"


def test_resume_without_a_report_starts_one(tmp_path: Path) -> None:
    writer, earlier = resume(tmp_path / "new.csv")
    with writer:
        pass
    assert earlier.count == 0
    assert (tmp_path / "new.csv").read_text() == HEADER + "\n"


async def test_resumed_run_sends_only_unfinished_rows(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("s.png", size=500)
    manifest = write_csv_manifest(tmp_path / "m.csv", ((f"sub-{n}", "s.png") for n in range(1, 21)))
    report = tmp_path / "report.csv"
    async with running_mock_server(MockConfig(api_key=API_KEY)) as server:

        def settings_with(**changes: Any) -> RunSettings:
            return run_settings(report, base_url=server.url, concurrency=2, **changes)

        first = await upload_manifest(manifest, settings_with(max_requests=7))
        with report.open(newline="") as file:
            first_lines = file.read().splitlines()
        second = await upload_manifest(manifest, settings_with(resume=True))
    assert first.stop_reason is StopReason.MAX_REQUESTS
    assert first.rows_by_status[Status.OK] == 7
    earlier_ok = [line for line in first_lines[1:] if ",ok," in line]
    assert len(earlier_ok) == 7

    final_lines = report.read_text().splitlines()
    assert final_lines[0] == HEADER
    assert final_lines[1:8] == earlier_ok  # kept as they were, first
    with report.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(int(row["row"]) for row in rows) == list(range(1, 21))
    assert {row["status"] for row in rows} == {"ok"}
    # Every submission was sent exactly once across both runs.
    assert set(server.received.requests_by_submission.values()) == {1}
    assert second.earlier_ok == 7
    assert second.requests == 13
    assert second.all_ok


def test_a_huge_row_number_in_the_report_costs_no_memory() -> None:
    """One ok line claiming row 2,147,483,647 used to allocate 16 GB for the row index."""
    earlier = EarlierOkRows()
    tracemalloc.start()
    assert earlier.add(3, "s3")
    assert earlier.add(2_147_483_647, "far")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    assert earlier.add(5_000, "s5000")  # the flat index keeps growing around it
    assert not earlier.add(2_147_483_647, "again")
    assert earlier.count == 3
    assert (2_147_483_647, "far") in earlier
    assert (2_147_483_647, "other") not in earlier
    assert (3, "s3") in earlier
    assert (5_000, "s5000") in earlier
    assert (4, "s3") not in earlier


def test_a_resumed_report_with_a_huge_row_number_opens_at_once(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        HEADER + "\n2147483647,far,selfieImage,ok,200,,done,1,5,2026-11-27T10:00:00.000Z\n"
    )
    writer, earlier = resume(path)
    writer.close()
    assert (2_147_483_647, "far") in earlier
