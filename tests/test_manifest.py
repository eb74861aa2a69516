"""Reading CSV and YAML manifests: rows, aliases, defaults, and every malformed shape."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from batch_uploader import ManifestRow
from batch_uploader.errors import ManifestError
from batch_uploader.manifest import open_manifest, read_csv_manifest, read_yaml_manifest

WriteManifest = Callable[[str, str], Path]


def read_rows(path: Path) -> list[ManifestRow]:
    with open_manifest(path) as rows:
        return list(rows)


def manifest_error(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        read_rows(path)
    return caught.value


# CSV


def test_csv_rows_use_api_field_names_and_skip_empty_cells(write_manifest: WriteManifest) -> None:
    path = write_manifest(
        "m.csv",
        "submissionId,admin,idType,idImage,selfieImage\n"
        "sub-1,a@x.io,passport,front.jpg,\n"
        "sub-2,,,,selfie.png\n",
    )
    rows = read_rows(path)
    assert [(row.row, row.line) for row in rows] == [(1, 2), (2, 3)]
    assert rows[0].values == {
        "submissionId": "sub-1",
        "admin": "a@x.io",
        "idType": "passport",
        "idImage": "front.jpg",
    }
    assert rows[1].values == {"submissionId": "sub-2", "selfieImage": "selfie.png"}
    assert rows[1].image_fields == ("selfieImage",)


def test_csv_accepts_snake_case_columns(write_manifest: WriteManifest) -> None:
    path = write_manifest(
        "m.csv",
        "submission_id,id_type,id_image,id_back_image,selfie_image,address_image\n"
        "s,passport,a.jpg,b.jpg,c.png,d.png\n",
    )
    (row,) = read_rows(path)
    assert row.image_fields == ("idImage", "idBackImage", "selfieImage", "addressImage")
    assert row.values["idType"] == "passport"


def test_csv_tolerates_bom_crlf_quoted_cells_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(
        b"\xef\xbb\xbfsubmissionId,idImage\r\n"
        b'"sub,1","my images/front, final.jpg"\r\n'
        b"\r\n"
        b'sub-2,"two\nlines.jpg"\n'
        b"sub-3,c.jpg\r\n"
    )
    rows = read_rows(path)
    assert [row.submission_id for row in rows] == ["sub,1", "sub-2", "sub-3"]
    assert rows[0].values["idImage"] == "my images/front, final.jpg"
    assert rows[1].values["idImage"] == "two\nlines.jpg"
    assert [row.row for row in rows] == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("submissionId,idImagee\ns,a.jpg\n", "unknown column 'idImagee'"),
        ("idImage,selfieImage\na.jpg,b.png\n", "has no submissionId column"),
        ("submissionId,idImage,id_image\ns,a,b\n", "column 'idImage' appears twice"),
        ("", "is empty"),
    ],
)
def test_csv_header_problems_stop_with_file_and_line(
    write_manifest: WriteManifest, text: str, expected: str
) -> None:
    path = write_manifest("m.csv", text)
    error = manifest_error(path)
    assert expected in str(error)
    assert str(path) in str(error)
    if text:
        assert error.line == 1


def test_csv_ragged_rows_are_invalid_and_the_rest_go_on(write_manifest: WriteManifest) -> None:
    path = write_manifest("m.csv", "submissionId,idImage\ns1,a.jpg\ns2,b.jpg,extra\ns3\ns4,d.jpg\n")
    rows = read_rows(path)
    assert [row.problem.code if row.problem else None for row in rows] == [
        None,
        "malformed_row",
        "malformed_row",
        None,
    ]
    assert rows[1].problem is not None
    assert "line 3 has 3 cells but the header has 2" in rows[1].problem.message
    assert rows[3].submission_id == "s4"


def test_csv_cell_over_the_field_limit_spoils_only_its_row(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(f"submissionId,idImage\ns1,{'x' * 10_000_000}\ns2,b.jpg\n")
    rows = read_rows(path)
    assert rows[0].problem is not None
    assert rows[0].problem.code == "malformed_row"
    assert rows[1].values == {"submissionId": "s2", "idImage": "b.jpg"}


def test_csv_nul_bytes_and_bad_utf8_make_the_row_invalid(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"submissionId,idImage\ns1,a\x00.jpg\ns2,caf\xe9.jpg\ns3,ok.jpg\n")
    rows = read_rows(path)
    assert [row.problem.code if row.problem else None for row in rows] == [
        "bad_encoding",
        "bad_encoding",
        None,
    ]


def test_csv_header_that_is_not_utf8_stops(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"submissionId,\xff\xfe\n")
    assert "not UTF-8" in str(manifest_error(path))


def test_csv_rows_are_read_lazily() -> None:
    """A million-row manifest must not be read whole before the first row is used."""
    text = "submissionId,idImage\n" + "".join(f"s{i},img{i}.jpg\n" for i in range(50_000))
    file = io.StringIO(text)
    rows = read_csv_manifest(file, source=Path("big.csv"))
    first = next(rows)
    assert first.submission_id == "s0"
    assert file.tell() < len(text) // 10


# YAML


def test_yaml_list_form(write_manifest: WriteManifest) -> None:
    path = write_manifest(
        "m.yaml",
        "- submissionId: s1\n  admin: a@x.io\n  selfieImage: s.png\n"
        "- submission_id: s2\n  selfie_image: t.png\n",
    )
    rows = read_rows(path)
    assert [row.values for row in rows] == [
        {"submissionId": "s1", "admin": "a@x.io", "selfieImage": "s.png"},
        {"submissionId": "s2", "selfieImage": "t.png"},
    ]
    assert [(row.row, row.line) for row in rows] == [(1, 1), (2, 4)]


def test_yaml_defaults_apply_unless_the_row_sets_the_field(write_manifest: WriteManifest) -> None:
    path = write_manifest(
        "m.yml",
        "defaults:\n  admin: ops@x.io\n  idType: passport\n"
        "submissions:\n"
        "  - submissionId: s1\n    idImage: a.jpg\n"
        "  - submissionId: s2\n    idType: visa\n    idImage: b.jpg\n",
    )
    first, second = read_rows(path)
    assert first.values["admin"] == "ops@x.io"
    assert first.values["idType"] == "passport"
    assert second.values["idType"] == "visa"


def test_yaml_keeps_scalar_text_as_written(write_manifest: WriteManifest) -> None:
    """Ids like 0012 or 1e3 stay text; null and empty values mean 'not sent'."""
    path = write_manifest(
        "m.yaml",
        "- submissionId: 0012\n  idType: ~\n  idImage: null\n  selfieImage: ''\n"
        "  addressImage: 1e3.png\n",
    )
    (row,) = read_rows(path)
    assert row.values == {"submissionId": "0012", "addressImage": "1e3.png"}


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("just text\n", "must be a list of submissions", 1),
        ("submissions: {a: 1}\n", "'submissions' must be a list", 1),
        ("defaults: {admin: a}\n", "has no 'submissions' list", 1),
        ("defaults: [1]\nsubmissions: []\n", "'defaults' must be a mapping", 1),
        ("defaults: {submissionId: s}\nsubmissions: []\n", "cannot set submissionId", 1),
        ("submission: []\n", "unknown top-level key 'submission'", 1),
        ("- submissionId: s\n  selfie: a.png\n", "unknown key 'selfie'", 2),
        ("- submissionId: s\n\tidImage: a.jpg\n", "is not valid YAML", 2),
        ("- submissionId: [s\n", "is not valid YAML", 2),
        ("", "is empty", None),
    ],
)
def test_yaml_shape_problems_stop_with_file_and_line(
    write_manifest: WriteManifest, text: str, expected: str, line: int | None
) -> None:
    error = manifest_error(write_manifest("m.yaml", text))
    assert expected in str(error)
    assert error.line == line


def test_yaml_row_problems_spoil_only_their_row(write_manifest: WriteManifest) -> None:
    path = write_manifest(
        "m.yaml",
        "- just a string\n"
        "- submissionId: s2\n  idImage: a.jpg\n  idImage: b.jpg\n"
        "- submissionId: s3\n  idImage: [a.jpg]\n"
        "- submissionId: s4\n  selfieImage: d.png\n",
    )
    rows = read_rows(path)
    problems = [row.problem.message if row.problem else None for row in rows]
    assert problems == [
        "line 1: a submission must be a mapping of fields",
        "line 2: idImage is given twice",
        "line 5: idImage must be a single value, not a list or mapping",
        None,
    ]


def test_yaml_alias_bomb_is_not_expanded(write_manifest: WriteManifest) -> None:
    """Nine levels of ten aliases each would be 10**9 items if anything expanded them."""
    lines = ["- submissionId: s0", "  idImage: &n0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        aliases = ", ".join([f"*n{level - 1}"] * 10)
        lines += [f"- submissionId: s{level}", f"  idImage: &n{level} [{aliases}]"]
    rows = read_rows(write_manifest("m.yaml", "\n".join(lines) + "\n"))
    assert len(rows) == 10
    assert all(
        row.problem is not None and "must be a single value" in row.problem.message for row in rows
    )


# Any manifest


def test_unknown_suffix_is_refused(write_manifest: WriteManifest) -> None:
    error = manifest_error(write_manifest("m.txt", "submissionId\ns\n"))
    assert "name it .csv, .yaml or .yml" in str(error)


def test_missing_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    error = manifest_error(tmp_path / "absent.csv")
    assert "cannot be opened" in str(error)


# YAML, streamed


class CountingText(io.StringIO):
    def __init__(self, text: str) -> None:
        super().__init__(text, newline="")
        self.chars_read = 0

    def read(self, size: int | None = -1) -> str:
        text = super().read(size)
        self.chars_read += len(text)
        return text


def test_yaml_rows_come_before_the_whole_file_is_read() -> None:
    """200,000 submissions were composed whole first: 45 s and 762 MB before a request."""
    items = "".join(f"  - submissionId: s{n}\n    selfieImage: {n}.png\n" for n in range(20_000))
    file = CountingText("defaults:\n  admin: a@x.io\nsubmissions:\n" + items)
    rows = read_yaml_manifest(file, source=Path("m.yaml"))
    first = next(rows)
    assert first.values == {"admin": "a@x.io", "submissionId": "s0", "selfieImage": "0.png"}
    assert file.chars_read < len(file.getvalue()) / 10
    assert sum(1 for _ in rows) == 19_999


def test_a_yaml_fault_after_the_first_rows_comes_when_reading_reaches_it() -> None:
    text = "- submissionId: s1\n  selfieImage: a.png\n- submissionId: [s2\n"
    rows = read_yaml_manifest(io.StringIO(text), source=Path("m.yaml"))
    assert next(rows).submission_id == "s1"
    with pytest.raises(ManifestError) as caught:
        next(rows)
    assert (caught.value.line or 0) >= 3  # where the parser gave up: at or after the fault
    assert "is not valid YAML" in str(caught.value)


def test_yaml_defaults_after_the_submissions_are_refused(write_manifest: WriteManifest) -> None:
    path = write_manifest("m.yaml", "submissions:\n  - submissionId: s\ndefaults: {admin: a}\n")
    error = manifest_error(path)
    assert "put 'defaults' before 'submissions'" in str(error)
    assert error.line == 3


CSV_EDGES = (
    "submissionId,admin,idImage,selfieImage,\n"
    "s1,a@x.io,a.jpg,b.png,\n"
    "\n"
    ",,,,\n"
    "s2,,a.jpg,,\n"
    "s3,a@x.io\n"
    "s4,a@x.io,a.jpg,b.png,extra\n"
    '"s 5 ",a@x.io,"multi\nline.jpg", ,\n'
    "s6,a@x.io,\udcff.jpg,b.png,\n"
    "s7,a@x.io,,b.png,\n"
    's8,"a@x.io",a.jpg,"b.png"x,\n'
    "s9,a@x.io,a.jpg,b.png,\n"
)


@pytest.mark.parametrize("read_first", range(10))
def test_briefs_continue_exactly_where_the_rows_stopped(read_first: int) -> None:
    """After a stop the rest is read in brief, for speed: the same rows, numbers, ids and
    image fields as the full reader gives, whatever row it stopped at."""
    whole = list(read_csv_manifest(io.StringIO(CSV_EDGES, newline=""), source=Path("m.csv")))
    expected = [(row.row, row.submission_id, ";".join(row.image_fields)) for row in whole]
    reader = read_csv_manifest(io.StringIO(CSV_EDGES, newline=""), source=Path("m.csv"))
    started = [next(reader) for _ in range(read_first)]
    assert [row.row for row in started] == list(range(1, read_first + 1))
    assert list(reader.briefs()) == expected[read_first:]
