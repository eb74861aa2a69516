"""Manifests as people export them from spreadsheets: blank rows, trailing commas, other
separators, UTF-16 and Windows-1252 files."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_uploader import ManifestRow, Status, upload_manifest
from batch_uploader.errors import ManifestError
from batch_uploader.manifest import ReadingTally, open_manifest
from batch_uploader.settings import RowRules
from batch_uploader.validate import validate_manifest

from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, run_settings

HEADER = "submissionId,admin,selfieImage"


def read(path: Path) -> tuple[list[ManifestRow], ReadingTally]:
    tally = ReadingTally()
    with open_manifest(path, tally) as rows:
        return list(rows), tally


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "m.csv"
    path.write_bytes(content)
    return path


def test_blank_and_all_empty_rows_are_not_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\r\ns1,a@x.io,a.png\r\n,,\r\n\r\n , ,\r\ns2,a@x.io,b.png\r\n,,\r\n".encode(),
    )
    rows, tally = read(path)
    assert [(row.row, row.line, row.submission_id, row.problem) for row in rows] == [
        (1, 2, "s1", None),
        (2, 6, "s2", None),
    ]
    assert tally.blank_rows == 3


async def test_the_summary_says_how_many_blank_rows_were_skipped(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("a.png")
    path = write(tmp_path, f"{HEADER}\ns1,a@x.io,a.png\n,,\n,,\n".encode())
    summary = await upload_manifest(
        path, run_settings(tmp_path / "r.csv"), client=FakeClient(VirtualClock())
    )
    assert summary.all_ok
    assert (summary.rows, summary.blank_rows) == (1, 2)
    validated = validate_manifest(path, RowRules(admin="a@x.io"))
    assert (validated.rows, validated.invalid, validated.blank_rows) == (1, 0, 2)


def test_a_trailing_empty_header_cell_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path, f"{HEADER},\ns1,a@x.io,a.png,\ns2,a@x.io,b.png\ns3,a@x.io,c.png,oops\n".encode()
    )
    rows, _ = read(path)
    assert [row.submission_id for row in rows[:2]] == ["s1", "s2"]
    assert rows[0].problem is None
    assert rows[1].problem is None
    assert rows[2].problem is not None
    assert rows[2].problem.code == "malformed_row"


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_another_separator_is_named_with_the_fix(tmp_path: Path, separator: str, name: str) -> None:
    header = HEADER.replace(",", separator)
    path = write(tmp_path, f"{header}\ns1{separator}a@x.io{separator}a.png\n".encode())
    with pytest.raises(ManifestError) as refused:
        read(path)
    assert refused.value.line == 1
    assert f"is separated by {name}, not commas" in refused.value.problem
    assert '"CSV UTF-8 (Comma delimited)"' in refused.value.problem


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    text = f"{HEADER}\r\nsüb-1,a@x.io,a.png\r\n"
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    path = write(tmp_path, bom + text.encode(encoding))
    rows, _ = read(path)
    assert [(row.submission_id, row.problem) for row in rows] == [("süb-1", None)]


def test_a_windows_1252_row_keeps_its_number_and_submission_id(tmp_path: Path) -> None:
    content = f"{HEADER}\ns1,a@x.io,a.png\n".encode() + "s2,a@x.io,café.png\n".encode("cp1252")
    rows, _ = read(write(tmp_path, content))
    bad = rows[1]
    assert (bad.row, bad.line, bad.submission_id) == (2, 3, "s2")
    assert bad.problem is not None
    assert bad.problem.code == "bad_encoding"
    assert "selfieImage holds a NUL byte or text that is not UTF-8" in bad.problem.message
    assert 'save the manifest as "CSV UTF-8"' in bad.problem.message


async def test_a_windows_1252_row_is_reported_under_its_submission_id(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("a.png")
    content = f"{HEADER}\ns1,a@x.io,a.png\n".encode() + "s2,a@x.io,café.png\n".encode("cp1252")
    path = write(tmp_path, content)
    summary = await upload_manifest(
        path, run_settings(tmp_path / "r.csv"), client=FakeClient(VirtualClock())
    )
    assert summary.rows_by_status[Status.INVALID] == 1
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert any(line.startswith("2,s2,,invalid,,bad_encoding,") for line in lines), lines
