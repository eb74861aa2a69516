"""Hostile and broken input: a clear error or an invalid row, never a crash, never a lost row."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_uploader import ManifestRow, Status, upload_manifest
from batch_uploader.client import open_session
from batch_uploader.errors import InvalidRowError, ManifestError
from batch_uploader.manifest import open_manifest, read_csv_manifest, read_yaml_manifest
from batch_uploader.prepare import load_row, plan_row
from batch_uploader.settings import RowRules

from .client_harness import answer_from
from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, run_settings, write_csv_manifest

WriteManifest = Callable[[str, str], Path]
RULES = RowRules(admin="a@x.io")


def rows_or_error(path: Path) -> list[ManifestRow] | ManifestError:
    try:
        with open_manifest(path) as rows:
            return list(rows)
    except ManifestError as error:
        return error


# Manifest files


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
def test_binary_file_is_a_clear_error_or_invalid_rows(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_bytes(bytes(range(256)) * 40)
    outcome = rows_or_error(path)
    if isinstance(outcome, ManifestError):
        assert str(path) in str(outcome)
    else:
        assert all(row.problem is not None for row in outcome)


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
def test_empty_file_is_a_clear_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"")
    outcome = rows_or_error(path)
    assert isinstance(outcome, ManifestError)
    assert "is empty" in str(outcome)


def test_truncated_csv_keeps_every_complete_row(write_manifest: WriteManifest) -> None:
    path = write_manifest("m.csv", 'submissionId,idImage\ns1,a.jpg\ns2,"b.jp')
    outcome = rows_or_error(path)
    assert not isinstance(outcome, ManifestError)
    assert [row.submission_id for row in outcome] == ["s1", "s2"]
    assert outcome[1].values["idImage"] == "b.jp"  # the cut path then fails its own checks


def test_mixed_newlines(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"submissionId,idImage\rs1,a.jpg\ns2,b.jpg\r\ns3,c.jpg\r")
    outcome = rows_or_error(path)
    assert not isinstance(outcome, ManifestError)
    assert [row.submission_id for row in outcome] == ["s1", "s2", "s3"]


def test_truncated_and_multi_document_yaml_are_clear_errors(write_manifest: WriteManifest) -> None:
    cut = rows_or_error(write_manifest("cut.yaml", "- submissionId: s1\n  idImage: 'a.jp"))
    assert isinstance(cut, ManifestError)
    assert "is not valid YAML" in str(cut)
    two = rows_or_error(write_manifest("two.yaml", "- submissionId: s1\n---\n- submissionId: s2\n"))
    assert isinstance(two, ManifestError)
    assert two.line == 2


def test_deeply_nested_yaml_is_a_clear_error(write_manifest: WriteManifest) -> None:
    outcome = rows_or_error(write_manifest("deep.yaml", "- " + "[" * 5000 + "]" * 5000 + "\n"))
    assert isinstance(outcome, ManifestError)
    assert "nested too deeply" in str(outcome)


def test_yaml_wrong_types_spoil_only_their_rows(write_manifest: WriteManifest) -> None:
    path = write_manifest(
        "m.yaml",
        "- submissionId: 12\n  idImage: true\n"
        "- submissionId: {a: b}\n"
        "- submissionId: 1.5e3\n  selfieImage: 0x1F.png\n"
        "- 42\n",
    )
    outcome = rows_or_error(path)
    assert not isinstance(outcome, ManifestError)
    assert [row.values.get("submissionId") for row in outcome] == ["12", None, "1.5e3", None]
    assert [row.problem is not None for row in outcome] == [False, True, False, True]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text())
def test_any_csv_text_gives_rows_or_a_clean_error(text: str) -> None:
    source = Path("fuzz.csv")
    try:
        rows = list(read_csv_manifest(_file(text), source=source))
    except ManifestError:
        return
    assert all(row.row >= 1 and row.line >= 1 for row in rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["submissionId", "idImage", "defaults", "submissions", "x"]),
                    children,
                    max_size=4,
                )
            ),
            max_leaves=20,
        ).map(repr),
    )
)
def test_any_yaml_text_gives_rows_or_a_clean_error(text: str) -> None:
    try:
        rows = list(read_yaml_manifest(_file(text), source=Path("fuzz.yaml")))
    except ManifestError:
        return
    assert all(row.row >= 1 for row in rows)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".yaml", ".yml"]))
def test_any_bytes_give_rows_or_a_clean_error(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    rows_or_error(path)


def _file(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


# Image paths


def problem_code(tmp_path: Path, path_text: str) -> str:
    row = ManifestRow(row=1, line=2, values={"submissionId": "s", "selfieImage": path_text})
    with pytest.raises(InvalidRowError) as caught:
        load_row(plan_row(row, RULES, manifest_dir=tmp_path), RULES)
    return caught.value.code


def test_device_file_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "null.png").symlink_to("/dev/null")
    assert problem_code(tmp_path, "null.png") == "not_a_file"


def test_very_long_name_is_a_clear_problem(tmp_path: Path) -> None:
    assert problem_code(tmp_path, "x" * 300 + ".png") == "unreadable"
    deep = "/".join(["d" * 200] * 30) + "/a.png"
    assert problem_code(tmp_path, deep) in {"unreadable", "file_not_found"}


def test_magic_numbers_that_lie(tmp_path: Path, make_image: ImageMaker) -> None:
    (tmp_path / "gif.png").write_bytes(b"GIF89a" + os.urandom(100))
    (tmp_path / "half.jpg").write_bytes(b"\xff\xd8")
    assert problem_code(tmp_path, "gif.png") == "not_an_image"
    assert problem_code(tmp_path, "half.jpg") == "not_an_image"


# A hostile server


async def test_huge_error_body_is_read_only_in_part() -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=400, body=b'{"errorCode": "x", "message": "' + b"y" * 20_000_000)

    async with open_session(concurrency=1) as session:
        answer = await answer_from(session, huge)
    assert (answer.http_status, answer.error_code) == (400, "http_400")
    assert len(answer.message) < 300


async def test_json_with_a_wrong_content_type_is_still_read() -> None:
    async def mislabelled(request: web.Request) -> web.StreamResponse:
        await request.read()
        body = '{"errorCode": "invalid_admin", "message": "Invalid admin."}'
        return web.Response(status=400, text=body, content_type="text/html")

    async with open_session(concurrency=1) as session:
        answer = await answer_from(session, mislabelled)
    assert answer.error_code == "invalid_admin"


@pytest.fixture
def manifest_in_a_latin1_folder(tmp_path: Path) -> Path:
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    return write_csv_manifest(folder / "m.csv", [("s1", "missing.png"), ("s2", "gone.png")])


async def test_a_folder_name_that_is_not_utf8_cannot_crash_the_report(
    tmp_path: Path, manifest_in_a_latin1_folder: Path
) -> None:
    manifest = manifest_in_a_latin1_folder
    for report in (tmp_path / "r.csv", tmp_path / "r.jsonl"):
        summary = await upload_manifest(
            manifest, run_settings(report), client=FakeClient(VirtualClock())
        )
        assert summary.rows_by_status[Status.INVALID] == 2
        text = report.read_text(encoding="utf-8")
        assert "caf\\udce9/missing.png does not exist" in text
