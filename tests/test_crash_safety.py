"""No row is ever lost: kill -9 at seeded random moments, and a report on a full disk."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import resource
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from .processes import (
    MockServerProcess,
    lines_reached_or_exited,
    report_lines,
    run_command,
    start_command,
    wait_until,
)
from .support import ADMIN_SELFIE_COLUMNS, API_KEY, ImageMaker, write_csv_manifest

# Runs the installed command in child processes: left out of the quick loop (-m "not slow").
pytestmark = pytest.mark.slow

ROWS = 400
OPS = "ops@example.com"
KILLS = 10


@pytest.fixture
def server() -> Iterator[MockServerProcess]:
    process = MockServerProcess(
        "--latency-ms", "5", "--processing-error-rate", "0.1", "--drop-rate", "0.02",
        "--seed", "11",
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture
def manifest(tmp_path: Path, make_image: ImageMaker) -> tuple[Path, dict[str, bytes]]:
    """ROWS rows, each with its own image, and a few invalid rows among them."""
    rows: list[tuple[str, str, str]] = []
    images: dict[str, bytes] = {}
    for number in range(1, ROWS + 1):
        submission_id = f"sub-{number:04d}"
        if number % 50 == 0:
            rows.append((submission_id, OPS, f"missing-{number}.png"))
        else:
            images[submission_id] = make_image(f"img/{number}.png", size=600)
            rows.append((submission_id, OPS, f"img/{number}.png"))
    return write_csv_manifest(tmp_path / "m.csv", rows, columns=ADMIN_SELFIE_COLUMNS), images


def rows_of(lines: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("\n".join(lines) + "\n")))


def check_invariants(
    report: Path, server: MockServerProcess, images: dict[str, bytes], max_attempts: int
) -> dict[str, object]:
    """Every row once; ok exactly when the server accepted the exact bytes; invalid never sent."""
    rows = rows_of(report_lines(report))
    assert sorted(int(row["row"]) for row in rows) == list(range(1, ROWS + 1))
    received = server.received()
    accepted = received["accepted"]
    assert isinstance(accepted, dict)
    sent = server.requests_by_submission()
    for row in rows:
        submission_id = row["submissionId"]
        if row["status"] == "ok":
            digest = hashlib.sha256(images[submission_id]).hexdigest()
            assert accepted[submission_id] == {"selfieImage": digest}
        else:
            assert submission_id not in accepted
        if row["status"] == "invalid":
            assert submission_id not in sent
        assert int(row["attempts"]) <= max_attempts
    return received


def test_ten_kill_9s_at_seeded_moments_lose_nothing(
    manifest: tuple[Path, dict[str, bytes]], server: MockServerProcess, tmp_path: Path
) -> None:
    path, images = manifest
    report = tmp_path / "r.csv"
    command = ["run", str(path), "--base-url", server.url, "--report", str(report)]
    command += ["--concurrency", "4", "--quiet", "--timeout", "5"]
    chooser = random.Random(2026)
    ok_before: set[str] = set()
    for kill in range(KILLS):
        done = len(report_lines(report))
        target = done + chooser.randint(5, 30)
        process = start_command(*command, *(["--resume"] if kill else []), cwd=tmp_path,
                                ARGOS_API_KEY=API_KEY)  # fmt: skip
        wait_until(partial(lines_reached_or_exited, report, target, process))
        process.kill()
        process.communicate(timeout=10)
        ok_now = {line for line in report_lines(report) if ",ok," in line}
        assert ok_before <= ok_now, f"kill {kill + 1} lost earlier ok lines"
        ok_before = ok_now
    finished = run_command(*command, "--resume", cwd=tmp_path, ARGOS_API_KEY=API_KEY)
    assert finished.returncode == 1, finished.stderr  # the invalid rows
    assert ok_before <= set(report_lines(report))
    check_invariants(report, server, images, max_attempts=5)


def test_full_disk_gives_a_clear_error_and_a_resumable_report(
    manifest: tuple[Path, dict[str, bytes]], server: MockServerProcess, tmp_path: Path
) -> None:
    path, images = manifest
    report = tmp_path / "r.csv"
    command = ["run", str(path), "--base-url", server.url, "--report", str(report), "--quiet"]

    def small_disk() -> None:
        # CPython ignores SIGXFSZ, so a write past the limit fails with EFBIG.
        resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))

    full = start_command(*command, cwd=tmp_path, preexec_fn=small_disk, ARGOS_API_KEY=API_KEY)
    _, stderr = full.communicate(timeout=60)
    assert full.returncode == 2, stderr
    assert f"cannot write the report {report}: File too large" in stderr
    assert "run the same command with --resume" in stderr
    assert "Traceback" not in stderr
    assert 0 < report.stat().st_size <= 8000

    resumed = run_command(*command, "--resume", cwd=tmp_path, ARGOS_API_KEY=API_KEY)
    assert resumed.returncode == 1, resumed.stderr  # the invalid rows
    check_invariants(report, server, images, max_attempts=5)


def test_files_that_change_or_vanish_after_validate_are_caught_at_upload(
    server: MockServerProcess, tmp_path: Path, make_image: ImageMaker
) -> None:
    for name in ("stays", "vanishes", "turns-to-text", "turns-to-folder"):
        make_image(f"{name}.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "submissionId,admin,selfieImage\n"
        + "".join(
            f"{name},a@x.io,{name}.png\n"
            for name in ("stays", "vanishes", "turns-to-text", "turns-to-folder")
        )
    )
    assert run_command("validate", str(manifest), cwd=tmp_path).returncode == 0
    (tmp_path / "vanishes.png").unlink()
    (tmp_path / "turns-to-text.png").write_text("no longer an image")
    (tmp_path / "turns-to-folder.png").unlink()
    (tmp_path / "turns-to-folder.png").mkdir()
    result = run_command("run", str(manifest), "--base-url", server.url, "--report", "r.csv",
                         cwd=tmp_path, ARGOS_API_KEY=API_KEY)  # fmt: skip
    assert result.returncode == 1
    outcome = {
        row["submissionId"]: (row["status"], row["errorCode"])
        for row in rows_of(report_lines(tmp_path / "r.csv"))
    }
    assert outcome["stays"][0] == "ok"
    assert outcome["vanishes"] == ("invalid", "file_not_found")
    assert outcome["turns-to-text"] == ("invalid", "not_an_image")
    assert outcome["turns-to-folder"] == ("invalid", "not_a_file")
