"""`run -`: a manifest piped from a database export, read once from standard input."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest

from batch_uploader import Status, upload_manifest
from batch_uploader.errors import SettingError
from batch_uploader.manifest import ManifestStream

from .fakes import FakeClient, VirtualClock
from .processes import EXAMPLE, SCRIPT, MockServerProcess, command_env, run_command
from .support import API_KEY, ImageMaker, run_settings

SELFIE = EXAMPLE.parent / "images" / "bob-selfie.png"


async def test_a_stream_is_a_manifest_whose_paths_start_in_its_folder(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("img/a.png")
    text = "submissionId,selfieImage\ns1,img/a.png\n,\ns2,img/a.png\n"
    stream = ManifestStream(file=io.StringIO(text), format="csv", folder=tmp_path)
    summary = await upload_manifest(
        stream, run_settings(tmp_path / "r.csv"), client=FakeClient(VirtualClock())
    )
    assert (summary.rows_by_status[Status.OK], summary.blank_rows) == (2, 1)


async def test_a_yaml_stream(tmp_path: Path, make_image: ImageMaker) -> None:
    make_image("a.png")
    text = "- submissionId: s1\n  selfieImage: a.png\n"
    stream = ManifestStream(file=io.StringIO(text), format="yaml", folder=tmp_path)
    summary = await upload_manifest(
        stream, run_settings(tmp_path / "r.csv"), client=FakeClient(VirtualClock())
    )
    assert summary.all_ok


async def test_resuming_a_stream_is_refused(tmp_path: Path) -> None:
    stream = ManifestStream(file=io.StringIO(""), format="csv", folder=tmp_path)
    with pytest.raises(SettingError, match="needs a manifest in a file"):
        await upload_manifest(stream, run_settings(tmp_path / "r.csv", resume=True))


def test_an_unknown_stream_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="must be csv or yaml"):
        ManifestStream(file=io.StringIO(""), format="xlsx", folder=tmp_path)


def run_piped(tmp_path: Path, manifest: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "run", "-", *args],
        input=manifest,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=command_env(ARGOS_API_KEY=API_KEY),
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_the_command_reads_a_piped_manifest(tmp_path: Path) -> None:
    server = MockServerProcess()
    try:
        rows = "".join(f"s{n},ops@example.com,{SELFIE}\n" for n in range(5))
        done = run_piped(
            tmp_path, "submissionId,admin,selfieImage\n" + rows, "--base-url", server.url
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    with (tmp_path / "stdin.report.csv").open(newline="") as file:
        assert [line["status"] for line in csv.DictReader(file)] == ["ok"] * 5


@pytest.mark.slow
def test_resume_and_format_are_checked_for_a_piped_manifest(tmp_path: Path) -> None:
    resumed = run_piped(tmp_path, "submissionId\n", "--resume")
    assert resumed.returncode == 2
    assert "--resume needs the manifest in a file" in resumed.stderr
    misplaced = run_command(
        "run", str(EXAMPLE), "--format", "yaml", cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    assert misplaced.returncode == 2
    assert "--format is for a manifest on standard input" in misplaced.stderr
