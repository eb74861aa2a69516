"""Row-level checks: every reason SPEC.md gives for a row to be invalid, and what is sent."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from batch_uploader import ManifestRow, RowProblem
from batch_uploader.errors import ImageChangedError, InvalidRowError
from batch_uploader.images import StreamedImage
from batch_uploader.prepare import check_files, load_row, plan_row
from batch_uploader.request_body import form_body
from batch_uploader.settings import RowRules

from .support import ImageMaker

RULES = RowRules(admin="ops@example.com")


def row(**values: str) -> ManifestRow:
    return ManifestRow(row=1, line=2, values=values)


def problem_of(manifest_row: ManifestRow, tmp_path: Path, rules: RowRules = RULES) -> RowProblem:
    """The problem that makes the row invalid, found the way `run` finds it."""
    with pytest.raises(InvalidRowError) as caught:
        load_row(plan_row(manifest_row, rules, manifest_dir=tmp_path), rules)
    validated = RowProblem(caught.value.code, caught.value.message)
    # `validate` must reach the same verdict without reading whole files.
    with pytest.raises(InvalidRowError) as caught_by_validate:
        check_files(plan_row(manifest_row, rules, manifest_dir=tmp_path), rules)
    assert caught_by_validate.value.code == validated.code
    return validated


def test_fields_are_sent_in_api_order_with_exact_base64(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    front = make_image("front.jpg")
    selfie = make_image("sub/selfie.PNG")
    plan = plan_row(
        row(
            submissionId="s1", idType="passport", selfieImage="sub/selfie.PNG", idImage="front.jpg"
        ),
        RULES,
        manifest_dir=tmp_path,
    )
    fields = load_row(plan, RULES)
    assert [name for name, _ in fields] == [
        "submissionId",
        "admin",
        "idType",
        "idImage",
        "selfieImage",
    ]
    sent = dict(fields)
    assert isinstance(sent["idImage"], bytes)
    assert isinstance(sent["selfieImage"], bytes)
    assert sent["submissionId"] == b"s1"
    assert sent["admin"] == b"ops@example.com"
    assert base64.b64decode(sent["idImage"], validate=True) == front
    assert base64.b64decode(sent["selfieImage"], validate=True) == selfie


def test_admin_in_the_row_wins_over_the_option(tmp_path: Path, make_image: ImageMaker) -> None:
    make_image("s.png")
    plan = plan_row(
        row(submissionId="s", admin="row@x.io", selfieImage="s.png"), RULES, manifest_dir=tmp_path
    )
    assert dict(plan.text_fields)["admin"] == b"row@x.io"


def test_paths_resolve_against_base_dir_when_given(tmp_path: Path, make_image: ImageMaker) -> None:
    make_image("base/s.png")
    rules = RowRules(admin="a@x.io", base_dir=tmp_path / "base")
    plan = plan_row(
        row(submissionId="s", selfieImage="s.png"), rules, manifest_dir=tmp_path / "elsewhere"
    )
    check_files(plan, rules)
    assert plan.images[0][1] == (tmp_path / "base" / "s.png").resolve()


@pytest.mark.parametrize(
    ("values", "rules", "code"),
    [
        ({"submissionId": "", "selfieImage": "ok.png"}, RULES, "missing_submission_id"),
        ({"submissionId": "s", "selfieImage": "ok.png"}, RowRules(), "missing_admin"),
        ({"submissionId": "s"}, RULES, "no_images"),
        ({"submissionId": "s", "idImage": "ok.jpg"}, RULES, "missing_id_type"),
        ({"submissionId": "s", "idBackImage": "ok.jpg"}, RULES, "missing_id_type"),
        ({"submissionId": "s", "selfieImage": "absent.png"}, RULES, "file_not_found"),
        ({"submissionId": "s", "selfieImage": "ok.gif"}, RULES, "not_an_image"),
        ({"submissionId": "s", "selfieImage": "text.png"}, RULES, "not_an_image"),
        ({"submissionId": "s", "selfieImage": "empty.png"}, RULES, "empty_file"),
        ({"submissionId": "s", "selfieImage": "folder.png"}, RULES, "not_a_file"),
        ({"submissionId": "s", "selfieImage": "ok.png/x.png"}, RULES, "unreadable"),
        (
            {"submissionId": "s", "selfieImage": "ok.png"},
            RowRules(admin="a", max_request_bytes=500),
            "too_large",
        ),
    ],
)
def test_invalid_rows(
    tmp_path: Path,
    make_image: ImageMaker,
    values: dict[str, str],
    rules: RowRules,
    code: str,
) -> None:
    make_image("ok.png", size=2000)
    make_image("ok.jpg")
    (tmp_path / "ok.gif").write_bytes(b"GIF89a")
    (tmp_path / "text.png").write_text("not an image at all")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    assert problem_of(row(**values), tmp_path, rules).code == code


def test_request_just_under_the_limit_is_valid(tmp_path: Path, make_image: ImageMaker) -> None:
    make_image("ok.png", size=3000)
    plan = plan_row(row(submissionId="s", selfieImage="ok.png"), RULES, manifest_dir=tmp_path)
    fields = load_row(plan, RULES)
    size = form_body(fields).size
    assert size is not None
    exact = RowRules(admin="a", max_request_bytes=size)
    check_files(plan, exact)  # exactly at the limit: valid, and the framing was measured
    assert len(load_row(plan, exact)) == 3
    assert (
        problem_of(
            row(submissionId="s", selfieImage="ok.png"),
            tmp_path,
            RowRules(admin="ops@example.com", max_request_bytes=size - 1),
        ).code
        == "too_large"
    )


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    problem = problem_of(row(submissionId="s", idType="passport", idImage="pipe.jpg"), tmp_path)
    assert problem.code == "not_a_file"


def test_dangling_and_looping_symlinks_are_not_found(tmp_path: Path) -> None:
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    assert (
        problem_of(row(submissionId="s", selfieImage="dangling.png"), tmp_path).code
        == "file_not_found"
    )
    assert (
        problem_of(row(submissionId="s", selfieImage="loop.png"), tmp_path).code == "file_not_found"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path, make_image: ImageMaker) -> None:
    make_image("locked.png")
    (tmp_path / "locked.png").chmod(0)
    assert (
        problem_of(row(submissionId="s", selfieImage="locked.png"), tmp_path).code == "unreadable"
    )


def test_paths_outside_base_dir_are_refused(tmp_path: Path, make_image: ImageMaker) -> None:
    make_image("outside.png")
    base = tmp_path / "base"
    base.mkdir()
    (base / "link.png").symlink_to(tmp_path / "outside.png")
    rules = RowRules(admin="a@x.io", base_dir=base)
    for path in ("../outside.png", "link.png", str(tmp_path / "outside.png")):
        problem = problem_of(row(submissionId="s", selfieImage=path), tmp_path, rules)
        assert problem.code == "outside_base_dir", path


def test_reader_problem_is_carried_to_the_row(tmp_path: Path) -> None:
    broken = ManifestRow(row=3, line=4, values={}, problem=RowProblem("malformed_row", "bad"))
    assert problem_of(broken, tmp_path) == RowProblem("malformed_row", "bad")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")
def test_a_read_error_while_sizing_a_file_makes_the_row_invalid(tmp_path: Path) -> None:
    """`validate` sizes files without reading them whole; a read that fails (EIO, here from
    /proc/self/mem) must make the row invalid, as `run` does, not end the command."""
    (tmp_path / "mem.jpg").symlink_to("/proc/self/mem")
    manifest_row = row(submissionId="s", selfieImage="mem.jpg")
    problem = problem_of(manifest_row, tmp_path)
    assert problem.code == "unreadable"
    assert "cannot be read: Input/output error" in problem.message


@pytest.mark.parametrize("size", [300, 400_000], ids=["read-whole", "streamed"])
async def test_a_link_swapped_in_after_the_check_cannot_escape_base_dir(
    tmp_path: Path, make_image: ImageMaker, size: int
) -> None:
    """`--base-dir` was checked when the row was planned and the file opened later: a folder
    replaced by a symbolic link in between led the open outside."""
    base = tmp_path / "base"
    (base / "photos").mkdir(parents=True)
    make_image("base/photos/s.png", size=size)
    make_image("elsewhere/s.png", size=size)
    rules = RowRules(admin="a@x.io", base_dir=base)
    plan = plan_row(row(submissionId="s", selfieImage="photos/s.png"), rules, manifest_dir=base)
    (base / "photos").rename(base / "old")
    (base / "photos").symlink_to(tmp_path / "elsewhere")
    if size < 256 * 1024:
        with pytest.raises(InvalidRowError) as caught:
            load_row(plan, rules)
        assert caught.value.code == "outside_base_dir"
        with pytest.raises(InvalidRowError):
            check_files(plan, rules)
        return
    # A large file passes its first check, then is swapped before its upload reopens it.
    (base / "photos").unlink()
    (base / "old").rename(base / "photos")
    fields = load_row(plan, rules)
    (base / "photos").rename(base / "old")
    (base / "photos").symlink_to(tmp_path / "elsewhere")
    streamed = dict(fields)["selfieImage"]
    assert isinstance(streamed, StreamedImage)
    with pytest.raises(ImageChangedError, match="outside --base-dir"):
        async for _ in streamed.chunks():
            pass
