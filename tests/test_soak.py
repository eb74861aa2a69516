"""Fault-injection soak: thousands of rows through every kind of fault at once, nothing lost.

Skipped by the default test run. Full size (20,000 rows):

    SOAK_ROWS=20000 .venv/bin/python -m pytest -m soak -s

`.ci/run` runs it with SOAK_ROWS=2000.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from batch_uploader import RetryPolicy, Status, upload_manifest
from batch_uploader.mock.faults import Fault, random_faults
from batch_uploader.mock.server import MockConfig, running_mock_server

from .support import API_KEY, ImageMaker, run_settings, write_csv_manifest

pytestmark = pytest.mark.soak

FAULT_RATES = {
    Fault.PROCESSING_ERROR: 0.10,
    Fault.UNAVAILABLE: 0.02,
    Fault.THROTTLED: 0.01,
    Fault.DROP: 0.01,
    Fault.SLOW: 0.01,
}
DISTINCT_IMAGES = 500
MAX_ATTEMPTS = 8


async def test_soak_every_row_accounted_for(tmp_path: Path, make_image: ImageMaker) -> None:
    rows = int(os.environ.get("SOAK_ROWS", "20000"))
    images = [make_image(f"img/{n}.png", size=1500) for n in range(DISTINCT_IMAGES)]
    lines: list[tuple[str, str]] = []
    expected: dict[str, bytes] = {}
    invalid: set[str] = set()
    for number in range(1, rows + 1):
        submission_id = f"soak-{number:06d}"
        if number % 100 == 0:
            invalid.add(submission_id)
            lines.append((submission_id, f"img/missing-{number}.png"))
        else:
            expected[submission_id] = images[number % DISTINCT_IMAGES]
            lines.append((submission_id, f"img/{number % DISTINCT_IMAGES}.png"))
    manifest = write_csv_manifest(tmp_path / "soak.csv", lines)

    plan = random_faults(FAULT_RATES, seed=20_000)
    config = MockConfig(
        api_key=API_KEY,
        faults=plan,
        retry_after_seconds=1,
        slow_seconds=1.0,
    )
    async with running_mock_server(config) as server:
        settings = run_settings(
            tmp_path / "soak.report.csv",
            base_url=server.url,
            concurrency=32,
            timeout=0.3,
            retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, initial_wait=0.05, max_wait=0.5),
        )
        summary = await upload_manifest(manifest, settings)
    received = server.received

    with (tmp_path / "soak.report.csv").open(newline="") as file:
        report = list(csv.DictReader(file))
    by_submission = {line["submissionId"]: line for line in report}
    lost = rows - len(by_submission)
    assert len(report) == rows == len(by_submission), "exactly one line per row"
    # This weather is each row's own: no outage, so every attempt but a throttled one is
    # charged to its row, and no row goes past MAX_ATTEMPTS of those.
    assert summary.api.outage_seconds == 0
    for submission_id, line in by_submission.items():
        attempts = int(line["attempts"])
        throttled = sum(
            plan(submission_id, attempt) is Fault.THROTTLED for attempt in range(1, attempts + 1)
        )
        assert attempts - throttled <= MAX_ATTEMPTS
        if submission_id in invalid:
            assert line["status"] == "invalid"
            assert submission_id not in received.requests_by_submission
            continue
        accepted = submission_id in received.accepted
        assert (line["status"] == "ok") == accepted, submission_id
        if accepted:
            digest = hashlib.sha256(expected[submission_id]).hexdigest()
            assert received.accepted[submission_id] == {"selfieImage": digest}
    assert summary.requests == received.requests

    figures = {
        "rows": rows,
        "ok": summary.rows_by_status[Status.OK],
        "failed": summary.rows_by_status[Status.FAILED],
        "invalid": summary.rows_by_status[Status.INVALID],
        "requests": summary.requests,
        "retries": summary.retries,
        "injected": {str(kind): received.answers[kind] for kind in FAULT_RATES},
        "lostRows": lost,
        "seconds": round(summary.elapsed_seconds, 1),
    }
    print("\nsoak figures:", json.dumps(figures))
    assert all(received.answers[kind] > 0 for kind in FAULT_RATES)
