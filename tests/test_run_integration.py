"""`upload_manifest` end to end against the mock server on loopback, with scripted faults.

The server answers like the real API (processing_error with HTTP 400, 429 with Retry-After,
502 with HTML, dropped connections, answers slower than --timeout); every row's report line,
its attempts, and the bytes the server received are checked.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from batch_uploader import RetryPolicy, RowRules, Status, upload_manifest
from batch_uploader.mock.faults import Fault, FaultPlan
from batch_uploader.mock.server import MockConfig, running_mock_server

from .support import API_KEY, ImageMaker, run_settings, write_csv_manifest

ADMIN = "ops@example.com"
ALWAYS = object()


def scripted(script: Mapping[str, Sequence[Fault] | Fault]) -> FaultPlan:
    """Faults by submission: a list for successive attempts (then success), or one for ever."""

    def plan(submission_id: str, attempt: int) -> Fault | None:
        faults = script.get(submission_id, ())
        if isinstance(faults, Fault):
            return faults
        return faults[attempt - 1] if attempt <= len(faults) else None

    return plan


class RecordingSleep:
    """Stands in for asyncio.sleep: returns at once, remembers what it was asked, and moves
    its own clock on by that much (so the run's pauses end)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def clock(self) -> float:
        return self.now


def read_report(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as file:
        lines = list(csv.DictReader(file))
    by_submission = {line["submissionId"]: line for line in lines}
    assert len(by_submission) == len(lines), "one line per row"
    return by_submission


ROWS = [
    # submissionId, idType, fields -> file names
    (
        "ok-first",
        "drivers_license",
        {"idImage": "a.jpg", "idBackImage": "b.jpg", "selfieImage": "c.png"},
    ),
    ("processing-twice", "passport", {"idImage": "d.jpg"}),
    ("throttled", "", {"selfieImage": "e.png"}),
    ("bad-gateway", "", {"addressImage": "f.png"}),
    ("dropped", "", {"selfieImage": "g.png"}),
    ("slow", "", {"selfieImage": "h.png"}),
    ("processing-forever", "", {"selfieImage": "i.png"}),
    ("unknown-submission", "", {"selfieImage": "k.png"}),
    ("unknown-id-type", "drvlic", {"idImage": "l.jpg"}),
    ("missing-file", "", {"selfieImage": "absent.png"}),
    ("not-an-image", "", {"selfieImage": "text.png"}),
    ("missing-id-type", "", {"idImage": "m.jpg"}),
    ("too-large", "", {"selfieImage": "huge.png"}),
]
SCRIPT: dict[str, Sequence[Fault] | Fault] = {
    "processing-twice": [Fault.PROCESSING_ERROR, Fault.PROCESSING_ERROR],
    "throttled": [Fault.THROTTLED],
    "bad-gateway": [Fault.BAD_GATEWAY],
    "dropped": [Fault.DROP],
    "slow": [Fault.SLOW],
    "processing-forever": Fault.PROCESSING_ERROR,
}
EXPECTED = {
    # submissionId: (status, httpStatus, errorCode, attempts)
    "ok-first": ("ok", "200", "", "1"),
    "processing-twice": ("ok", "200", "", "3"),
    "throttled": ("ok", "200", "", "2"),
    "bad-gateway": ("ok", "200", "", "2"),
    "dropped": ("ok", "200", "", "2"),
    "slow": ("ok", "200", "", "2"),
    "processing-forever": ("failed", "400", "processing_error", "4"),
    "unknown-submission": ("failed", "400", "invalid_submission", "1"),
    "unknown-id-type": ("failed", "400", "invalid_idType", "1"),
    "missing-file": ("invalid", "", "file_not_found", "0"),
    "not-an-image": ("invalid", "", "not_an_image", "0"),
    "missing-id-type": ("invalid", "", "missing_id_type", "0"),
    "too-large": ("invalid", "", "too_large", "0"),
}


def write_every_case(
    tmp_path: Path, make_image: ImageMaker
) -> tuple[Path, dict[str, dict[str, bytes]]]:
    sent: dict[str, dict[str, bytes]] = {}
    lines = ["submissionId,idType,idImage,idBackImage,selfieImage,addressImage"]
    for submission_id, id_type, files in ROWS:
        sent[submission_id] = {}
        for field, name in files.items():
            if name == "huge.png":
                sent[submission_id][field] = make_image(name, size=60_000)
            elif name == "text.png":
                (tmp_path / name).write_text("plain text, not an image")
            elif name != "absent.png":
                sent[submission_id][field] = make_image(name)
        cells = [
            files.get(field, "")
            for field in ("idImage", "idBackImage", "selfieImage", "addressImage")
        ]
        lines.append(",".join([submission_id, id_type, *cells]))
    manifest = tmp_path / "every-case.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest, sent


async def test_every_case_ends_with_one_correct_line_and_exact_bytes(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest, files = write_every_case(tmp_path, make_image)
    known = frozenset(submission for submission, _, _ in ROWS) - {"unknown-submission"}
    config = MockConfig(
        api_key=API_KEY,
        submissions=known,
        faults=scripted(SCRIPT),
        retry_after_seconds=3,
        slow_seconds=3.0,
    )
    sleep = RecordingSleep()
    async with running_mock_server(config) as server:
        settings = run_settings(
            tmp_path / "report.csv",
            base_url=server.url,
            rules=RowRules(admin=ADMIN, max_request_bytes=50_000),
            concurrency=4,
            timeout=0.5,
            retry=RetryPolicy(max_attempts=4, initial_wait=0),
        )
        summary = await upload_manifest(manifest, settings, sleep=sleep, clock=sleep.clock)
        received = server.received

    report = read_report(tmp_path / "report.csv")
    assert set(report) == set(EXPECTED)
    for submission_id, (status, http_status, error_code, attempts) in EXPECTED.items():
        line = report[submission_id]
        assert (line["status"], line["httpStatus"], line["errorCode"], line["attempts"]) == (
            status,
            http_status,
            error_code,
            attempts,
        ), submission_id
        assert line["fields"] == ";".join(dict(next(r[2] for r in ROWS if r[0] == submission_id)))
    for number, (submission_id, _, _) in enumerate(ROWS, start=1):
        assert report[submission_id]["row"] == str(number)

    # The server holds exactly the bytes of every ok row's files.
    for submission_id, line in report.items():
        if line["status"] == "ok":
            assert received.accepted[submission_id] == {
                field: hashlib.sha256(content).hexdigest()
                for field, content in files[submission_id].items()
            }
    # Invalid rows never produced a request; failed ones were never accepted.
    invalid = {s for s, line in report.items() if line["status"] == "invalid"}
    assert invalid.isdisjoint(received.requests_by_submission)
    assert {s for s, line in report.items() if line["status"] == "failed"}.isdisjoint(
        received.accepted
    )
    assert received.requests == sum(int(line["attempts"]) for line in report.values())

    # The 429's Retry-After: its row waited 3 s, and so did the whole run.
    assert 3.0 in sleep.waits
    assert summary.api.paused_seconds >= 3.0
    assert summary.rows_by_status == {
        Status.OK: 6,
        Status.FAILED: 3,
        Status.INVALID: 4,
        Status.CANCELLED: 0,
    }
    assert summary.requests == received.requests
    assert summary.retries == received.requests - 9
    assert not summary.all_ok


async def test_one_row_that_always_gets_503_fails_alone_after_its_attempts(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    """The API answers every other row: that row's failures are its own, not an outage."""
    make_image("s.png")
    rows = [(f"sub-{index:02d}", "s.png") for index in range(20)]
    manifest = write_csv_manifest(tmp_path / "m.csv", rows)
    config = MockConfig(
        api_key=API_KEY,
        faults=scripted({"sub-19": Fault.UNAVAILABLE}),
    )
    sleep = RecordingSleep()
    async with running_mock_server(config) as server:
        settings = run_settings(
            tmp_path / "r.csv",
            base_url=server.url,
            concurrency=4,
            retry=RetryPolicy(max_attempts=4),
        )
        summary = await upload_manifest(manifest, settings, sleep=sleep, clock=sleep.clock)
    report = read_report(tmp_path / "r.csv")
    line = report["sub-19"]
    assert (line["status"], line["httpStatus"], line["errorCode"], line["attempts"]) == (
        "failed",
        "503",
        "http_503",
        "4",
    )
    assert summary.rows_by_status[Status.OK] == 19
    assert summary.stop_reason is None
    assert summary.api.outage_seconds == 0


async def test_concurrency_bounds_requests_in_flight(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("s.png")
    manifest = write_csv_manifest(
        tmp_path / "m.csv", ((f"sub-{index}", "s.png") for index in range(40))
    )
    config = MockConfig(api_key=API_KEY, latency_seconds=0.02)
    async with running_mock_server(config) as server:
        settings = run_settings(tmp_path / "r.jsonl", base_url=server.url, concurrency=3)
        summary = await upload_manifest(manifest, settings)
    assert summary.all_ok
    assert summary.rows == 40
    assert len(server.received.accepted) == 40
    assert server.received.peak_in_flight == 3
