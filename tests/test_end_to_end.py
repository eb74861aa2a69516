"""The installed console script as a user runs it: a mock-server process and `run` processes."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import EXAMPLE, SCRIPT, MockServerProcess, run_command
from .support import API_KEY

# Runs the installed command in child processes: left out of the quick loop (-m "not slow").
pytestmark = pytest.mark.slow


@pytest.fixture
def mock_server() -> Iterator[MockServerProcess]:
    server = MockServerProcess("--processing-error-rate", "0.2", "--seed", "2")
    yield server
    if server.process.poll() is None:
        server.stop()


def test_console_script_is_installed() -> None:
    assert SCRIPT.exists(), "install the project first: pip install -e '.[test]'"


def test_run_uploads_exact_bytes_and_exits_0(
    mock_server: MockServerProcess, tmp_path: Path
) -> None:
    result = run_command(
        "run", str(EXAMPLE), "--base-url", mock_server.url, cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "example.report.csv").open(newline="") as file:
        lines = list(csv.DictReader(file))
    assert sorted(line["status"] for line in lines) == ["ok"] * 6
    assert sum(int(line["attempts"]) for line in lines) > 6  # the seed forces retries
    received = mock_server.received()
    accepted = received["accepted"]
    assert isinstance(accepted, dict)
    with EXAMPLE.open(newline="") as file:
        for row in csv.DictReader(file):
            expected = {
                field: hashlib.sha256((EXAMPLE.parent / path).read_bytes()).hexdigest()
                for field, path in row.items()
                if field.endswith("Image") and path
            }
            assert accepted[row["submissionId"]] == expected
    assert API_KEY not in result.stdout + result.stderr


def test_failed_rows_exit_1_and_missing_key_exits_2(
    mock_server: MockServerProcess, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "submissionId,admin,selfieImage\n"
        f"sub-1,ops@example.com,{EXAMPLE.parent / 'images' / 'bob-selfie.png'}\n"
        "sub-2,ops@example.com,missing.png\n"
    )
    failed = run_command(
        "run", str(manifest), "--base-url", mock_server.url, cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    assert failed.returncode == 1, failed.stderr
    assert "row 2 (sub-2): invalid file_not_found" in failed.stderr
    no_key = run_command(
        "run", str(manifest), "--base-url", mock_server.url, "--overwrite", cwd=tmp_path
    )
    assert no_key.returncode == 2
    assert "no API key" in no_key.stderr


def test_wrong_key_stops_the_run_with_exit_3(
    mock_server: MockServerProcess, tmp_path: Path
) -> None:
    result = run_command(
        "run", str(EXAMPLE), "--base-url", mock_server.url, "--report", "r.jsonl",
        "--concurrency", "1", cwd=tmp_path, ARGOS_API_KEY="not-the-key",
    )  # fmt: skip
    assert result.returncode == 3
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [line["status"] for line in lines] == ["failed"] + ["cancelled"] * 5
    assert (lines[0]["httpStatus"], lines[0]["errorCode"]) == (403, "http_403")
    assert "check the API key" in result.stderr
    assert "To continue: batch-uploader run" in result.stderr
    assert "not-the-key" not in result.stderr
    assert mock_server.received()["requests"] == 1


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_mock_server_stops_cleanly_on_signals(signal_number: int) -> None:
    server = MockServerProcess()
    returncode, stdout = server.stop(signal_number)
    assert returncode == 0
    assert "mock Argos server stopped" in stdout


def test_demo_ends_all_ok_after_retries(tmp_path: Path) -> None:
    # The demo keeps its report in a new temporary folder for the user to read: this test's
    # own, not the machine's /tmp, where every run of the suite would leave one.
    result = run_command("demo", cwd=tmp_path, TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "6 rows: 6 ok, 0 failed, 0 invalid, 0 cancelled" in result.stderr
    retries = re.search(r"Requests: \d+ \((\d+) retries\)", result.stderr)
    assert retries
    assert int(retries.group(1)) >= 1
    report = re.search(r"Report: (\S+)", result.stderr)
    assert report
    assert Path(report.group(1)).is_file()
    assert Path(report.group(1)).is_relative_to(tmp_path)
