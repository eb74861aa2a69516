"""One run per report: a second run on the same report is refused at once, naming the holder;
a report path that is the manifest, the key file, or not a file is refused before anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batch_uploader import upload_manifest
from batch_uploader.errors import ConfigurationError, ReportInUseError, SettingError
from batch_uploader.report_file import ReportMode, open_report
from batch_uploader.report_lock import lock_path

from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, run_settings, write_csv_manifest


@pytest.mark.parametrize("mode", list(ReportMode))
def test_a_second_opening_of_a_report_in_use_is_refused_naming_the_process(
    tmp_path: Path, mode: ReportMode
) -> None:
    report = tmp_path / "r.csv"
    with open_report(report, ReportMode.NEW):
        with pytest.raises(ReportInUseError, match=f"in use by process {os.getpid()} on ") as used:
            open_report(report, mode)
        assert used.value.path == report
    # Released with the run: the next run may have it.
    with open_report(report, ReportMode.RESUME):
        pass


def test_the_lock_holds_across_resumes_rewrite_of_the_report(tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    with open_report(report, ReportMode.NEW):
        pass
    # The report is replaced by a rename; the lock is on a file of its own.
    with open_report(report, ReportMode.RESUME), pytest.raises(ReportInUseError):
        open_report(report, ReportMode.RESUME)
    assert lock_path(report).exists()


def test_a_refused_run_leaves_the_report_as_it_was(tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    with open_report(report, ReportMode.NEW) as first:
        first.writer.write_record({"row": 1})
        before = report.read_bytes()
        for mode in ReportMode:
            with pytest.raises(ReportInUseError):
                open_report(report, mode)
        assert report.read_bytes() == before


def test_a_report_path_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    with pytest.raises(ConfigurationError, match="is not a regular file"):
        open_report(folder, ReportMode.OVERWRITE)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(ConfigurationError, match="is not a regular file"):
        open_report(fifo, ReportMode.RESUME)


async def test_a_report_that_is_the_manifest_is_refused_and_the_manifest_kept(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("s.png")
    manifest = write_csv_manifest(tmp_path / "m.csv", [("s1", "s.png")])
    before = manifest.read_bytes()
    clock = VirtualClock()
    for report in (manifest, tmp_path / "." / "m.csv"):
        settings = run_settings(report, overwrite=True)
        with pytest.raises(SettingError, match="is the manifest itself") as refused:
            await upload_manifest(manifest, settings, client=FakeClient(clock))
        assert refused.value.setting == "report_path"
    assert manifest.read_bytes() == before
