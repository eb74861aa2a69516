"""Operating at scale, as an operator or a cron job runs it: kills, signals, budgets, shards."""

from __future__ import annotations

import csv
import io
import json
import signal
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from .processes import (
    EXAMPLE,
    MockServerProcess,
    lines_past,
    report_lines,
    run_command,
    start_command,
    wait_until,
)
from .support import ADMIN_SELFIE_COLUMNS, API_KEY, write_csv_manifest

# Runs the installed command in child processes: left out of the quick loop (-m "not slow").
pytestmark = pytest.mark.slow

ROWS = 300
SELFIE = EXAMPLE.parent / "images" / "bob-selfie.png"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    rows = ((f"sub-{n:04d}", "ops@example.com", str(SELFIE)) for n in range(1, ROWS + 1))
    return write_csv_manifest(tmp_path / "big.csv", rows, columns=ADMIN_SELFIE_COLUMNS)


@pytest.fixture
def slow_server() -> Iterator[MockServerProcess]:
    """About 10 ms an answer: a 300-row run at concurrency 2 lasts over a second."""
    server = MockServerProcess("--latency-ms", "10")
    yield server
    server.stop()


def parse(lines: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("\n".join(lines) + "\n")))


def test_kill_9_twice_then_resume_loses_no_ok_line(
    manifest: Path, slow_server: MockServerProcess, tmp_path: Path
) -> None:
    report = tmp_path / "r.csv"
    base = ["run", str(manifest), "--base-url", slow_server.url, "--report", str(report)]
    base += ["--concurrency", "2", "--quiet"]
    kept: set[str] = set()
    # Requests each submission had had when its ok line was on disk: none may follow.
    sent_when_ok: dict[str, int] = {}
    for extra, kill_after in (([], 60), (["--resume"], 150)):
        process = start_command(*base, *extra, cwd=tmp_path, ARGOS_API_KEY=API_KEY)
        wait_until(partial(lines_past, report, kill_after))
        process.kill()
        process.communicate(timeout=10)
        lines = report_lines(report)
        ok_lines = {line for line in lines[1:] if ",ok," in line}
        assert kept <= ok_lines, "an earlier ok line was lost"
        assert len(lines) - 1 < ROWS, "the run should have been killed mid-way"
        kept = ok_lines
        sent_so_far = slow_server.requests_by_submission()
        for row in parse([lines[0], *ok_lines]):
            sent_when_ok.setdefault(row["submissionId"], sent_so_far[row["submissionId"]])
    finished = run_command(*base, "--resume", cwd=tmp_path, ARGOS_API_KEY=API_KEY)
    assert finished.returncode == 0, finished.stderr
    final = report_lines(report)
    assert kept <= set(final)
    rows = parse(final)
    assert sorted(int(row["row"]) for row in rows) == list(range(1, ROWS + 1))
    assert {row["status"] for row in rows} == {"ok"}
    sent = slow_server.requests_by_submission()
    assert len(sent) == ROWS
    assert {submission: sent[submission] for submission in sent_when_ok} == sent_when_ok
    # A row the server had answered when the kill came, but whose line was not yet written,
    # is sent again: at most `concurrency` of them per kill.
    assert sum(sent.values()) - ROWS <= 2 * 2


@pytest.mark.parametrize(
    ("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)]
)
def test_a_signal_finishes_requests_in_flight_and_writes_every_row(
    manifest: Path,
    slow_server: MockServerProcess,
    tmp_path: Path,
    signal_number: int,
    exit_code: int,
) -> None:
    report = tmp_path / "r.csv"
    process = start_command(
        "run", str(manifest), "--base-url", slow_server.url, "--report", str(report),
        "--concurrency", "2", cwd=tmp_path, ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    wait_until(lambda: len(report_lines(report)) > 20)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == exit_code, stderr
    rows = parse(report_lines(report))
    assert sorted(int(row["row"]) for row in rows) == list(range(1, ROWS + 1))
    statuses = {row["status"] for row in rows}
    assert statuses == {"ok", "cancelled"}
    # Nothing sent was left unrecorded: the server accepted exactly the ok rows.
    accepted = slow_server.received()["accepted"]
    assert isinstance(accepted, dict)
    assert set(accepted) == {row["submissionId"] for row in rows if row["status"] == "ok"}
    assert "Stopped early:" in stderr
    assert "To continue: batch-uploader run" in stderr
    assert "--resume" in stderr


def test_second_sigint_cuts_hanging_requests_and_still_reports_every_row(
    manifest: Path, tmp_path: Path
) -> None:
    server = MockServerProcess("--slow-rate", "1", "--slow-ms", "60000")
    try:
        report = tmp_path / "r.csv"
        process = start_command(
            "run", str(manifest), "--base-url", server.url, "--report", str(report),
            "--concurrency", "3", cwd=tmp_path, ARGOS_API_KEY=API_KEY,
        )  # fmt: skip
        wait_until(lambda: server.received()["requests"] == 3)
        process.send_signal(signal.SIGINT)
        # Signals do not queue: send the second only once the first has been handled.
        assert process.stderr is not None
        for line in process.stderr:
            if "no new requests" in line:
                break
        else:
            raise AssertionError("the first SIGINT was never acknowledged")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        server.stop()
    assert process.returncode == 130, stderr
    rows = parse(report_lines(report))
    assert len(rows) == ROWS
    assert {row["status"] for row in rows} == {"cancelled"}


def test_max_requests_exits_4_and_the_printed_command_finishes_the_job(
    manifest: Path, slow_server: MockServerProcess, tmp_path: Path
) -> None:
    report = tmp_path / "r.csv"
    result = run_command(
        "run", str(manifest), "--base-url", slow_server.url, "--report", str(report),
        "--max-requests", "25", cwd=tmp_path, ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert slow_server.received()["requests"] == 25
    assert "the budget of 25 requests is spent" in result.stderr
    command = result.stderr.split("To continue: ", 1)[1].splitlines()[0]
    assert "--max-requests 25" in command
    resumed = run_command(
        *command.replace("--max-requests 25", "").split()[1:],
        cwd=tmp_path,
        ARGOS_API_KEY=API_KEY,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "25 from the earlier report" in resumed.stderr
    assert slow_server.received()["requests"] == ROWS


def test_max_failures_exits_3(manifest: Path, tmp_path: Path) -> None:
    known = tmp_path / "known.txt"
    known.write_text("nobody\n")
    server = MockServerProcess("--submissions", str(known))
    try:
        result = run_command(
            "run", str(manifest), "--base-url", server.url, "--report", "r.csv",
            "--max-failures", "5", "--concurrency", "1", cwd=tmp_path, ARGOS_API_KEY=API_KEY,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 3
    assert "5 rows failed (--max-failures 5)" in result.stderr
    statuses = [row["status"] for row in parse(report_lines(tmp_path / "r.csv"))]
    assert statuses.count("failed") == 5
    assert statuses.count("cancelled") == ROWS - 5


def test_shards_on_three_processes_cover_the_manifest_once(
    manifest: Path, slow_server: MockServerProcess, tmp_path: Path
) -> None:
    processes = [
        start_command(
            "run",
            str(manifest),
            "--base-url",
            slow_server.url,
            "--shard",
            f"{k}/3",
            "--report",
            f"shard-{k}.csv",
            "--quiet",
            cwd=tmp_path,
            ARGOS_API_KEY=API_KEY,
        )
        for k in (1, 2, 3)
    ]
    for process in processes:
        process.communicate(timeout=60)
        assert process.returncode == 0
    rows = [
        int(row["row"])
        for k in (1, 2, 3)
        for row in parse(report_lines(tmp_path / f"shard-{k}.csv"))
    ]
    assert sorted(rows) == list(range(1, ROWS + 1))
    assert sorted(slow_server.requests_by_submission().values()) == [1] * ROWS


def test_json_log_format_makes_every_line_json(
    slow_server: MockServerProcess, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"submissionId,admin,selfieImage\ns1,ops@example.com,{SELFIE}\ns2,ops@example.com,gone.png\n"
    )
    result = run_command(
        "run", str(manifest), "--base-url", slow_server.url, "--log-format", "json",
        cwd=tmp_path, ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert result.returncode == 1
    documents = [json.loads(line) for line in result.stderr.splitlines()]
    summary = documents[-1]
    assert summary["event"] == "summary"
    assert (summary["rows"], summary["ok"], summary["invalid"]) == (2, 1, 1)
    assert "--resume" in summary["resumeCommand"]
    assert any(document.get("errorCode") == "file_not_found" for document in documents)
