"""The command as an operator meets a spent quota, an outage, an untrusted certificate, an
IP deny, and a second run on the same report: exit codes 2 to 5, messages that say what to
do, and a resume command that works."""

from __future__ import annotations

import csv
import json
import shlex
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import (
    EXAMPLE,
    MockServerProcess,
    report_lines,
    run_command,
    start_command,
    wait_until,
)
from .support import ADMIN_SELFIE_COLUMNS, API_KEY, write_csv_manifest
from .tls import make_certificates

# Runs the installed command in child processes: left out of the quick loop (-m "not slow").
pytestmark = pytest.mark.slow

SELFIE = EXAMPLE.parent / "images" / "bob-selfie.png"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    rows = ((f"sub-{n:02d}", "ops@example.com", str(SELFIE)) for n in range(1, 9))
    return write_csv_manifest(tmp_path / "m.csv", rows, columns=ADMIN_SELFIE_COLUMNS)


@pytest.fixture
def servers() -> Iterator[list[MockServerProcess]]:
    started: list[MockServerProcess] = []
    yield started
    for server in started:
        server.stop()


def statuses(report: Path) -> Counter[str]:
    with report.open(newline="") as file:
        return Counter(line["status"] for line in csv.DictReader(file))


def test_a_spent_quota_exits_4_and_the_printed_command_finishes_later(
    manifest: Path, tmp_path: Path, servers: list[MockServerProcess]
) -> None:
    servers.append(MockServerProcess("--quota", "5"))
    report = tmp_path / "r.csv"
    first = run_command(
        "run", str(manifest), "--base-url", servers[0].url, "--report", str(report),
        cwd=tmp_path, ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert first.returncode == 4, first.stderr
    assert "the API key's quota is spent (429 Limit Exceeded)" in first.stderr
    assert "resets it at 00:00 UTC" in first.stderr
    assert statuses(report) == {"ok": 5, "cancelled": 3}
    command = first.stderr.split("To continue: ", 1)[1].splitlines()[0]
    # The next day, as far as the quota is concerned: a new server with a fresh quota.
    servers.append(MockServerProcess("--quota", "5"))
    words = shlex.split(command.replace(servers[0].url, servers[1].url))
    assert words[:2] == ["batch-uploader", "run"]
    second = run_command(*words[1:], cwd=tmp_path, ARGOS_API_KEY=API_KEY)
    assert second.returncode == 0, second.stderr
    assert statuses(report) == {"ok": 8}


def test_an_api_that_stays_down_exits_5_after_max_outage(
    manifest: Path, tmp_path: Path, servers: list[MockServerProcess]
) -> None:
    servers.append(MockServerProcess("--outage-after", "0", "--outage-seconds", "3600"))
    result = run_command(
        "run", str(manifest), "--base-url", servers[0].url, "--max-outage", "1",
        "--report", str(tmp_path / "r.csv"), "--log-format", "json",
        cwd=tmp_path, ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    outage = [line for line in lines if line.get("apiCondition") == "outage"]
    assert outage
    assert outage[0]["nextProbeAt"] is not None
    summary = lines[-1]
    assert summary["stopReason"] == "api_unavailable"
    assert "has not answered for 1 s (--max-outage 1)" in summary["stopMessage"]
    assert "--resume" in summary["resumeCommand"]
    assert statuses(tmp_path / "r.csv") == {"cancelled": 8}


def test_an_untrusted_certificate_exits_5_and_a_ca_bundle_fixes_it(
    manifest: Path, tmp_path: Path, servers: list[MockServerProcess]
) -> None:
    certificates = make_certificates(tmp_path)
    pem = str(certificates.server_pem)
    servers.append(MockServerProcess("--tls-cert", pem, "--tls-key", pem))
    assert servers[0].url.startswith("https://")
    base = ["run", str(manifest), "--base-url", servers[0].url, "--report", str(tmp_path / "r.csv")]
    refused = run_command(*base, cwd=tmp_path, ARGOS_API_KEY=API_KEY)
    assert refused.returncode == 5, refused.stderr
    assert "the TLS certificate of 127.0.0.1 does not verify" in refused.stderr
    assert "--ca-bundle" in refused.stderr
    trusted = run_command(
        *base, "--resume", "--ca-bundle", str(certificates.ca_bundle), cwd=tmp_path,
        ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr
    assert statuses(tmp_path / "r.csv") == {"ok": 8}


def test_an_ip_not_on_the_allow_list_exits_3_and_says_so(
    manifest: Path, tmp_path: Path, servers: list[MockServerProcess]
) -> None:
    servers.append(MockServerProcess("--ip-denied"))
    result = run_command(
        "run", str(manifest), "--base-url", servers[0].url, "--report", str(tmp_path / "r.csv"),
        cwd=tmp_path, ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "the API refused this machine's IP address (HTTP 403: User is not authorized" in (
        result.stderr
    )
    assert "project's IP allow-list" in result.stderr


def test_two_runs_at_once_on_one_report_the_second_exits_2_and_nothing_goes_twice(
    tmp_path: Path, servers: list[MockServerProcess]
) -> None:
    servers.append(MockServerProcess("--latency-ms", "20"))
    rows = ((f"sub-{n:03d}", "ops@example.com", str(SELFIE)) for n in range(300))
    manifest = write_csv_manifest(tmp_path / "big.csv", rows, columns=ADMIN_SELFIE_COLUMNS)
    report = tmp_path / "r.csv"
    command = ["run", str(manifest), "--base-url", servers[0].url, "--report", str(report)]
    first = start_command(
        *command, "--concurrency", "2", "--resume", cwd=tmp_path, ARGOS_API_KEY=API_KEY
    )
    wait_until(lambda: len(report_lines(report)) > 5)
    second = run_command(*command, "--resume", cwd=tmp_path, ARGOS_API_KEY=API_KEY)
    assert second.returncode == 2, second.stderr
    assert f"report {report} is in use by process {first.pid} on " in second.stderr
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert statuses(report) == {"ok": 300}
    assert set(servers[0].requests_by_submission().values()) == {1}


def test_a_report_that_is_the_manifest_or_the_key_file_exits_2(
    manifest: Path, tmp_path: Path
) -> None:
    before = manifest.read_bytes()
    on_manifest = run_command(
        "run", str(manifest), "--report", str(manifest), "--overwrite", cwd=tmp_path,
        ARGOS_API_KEY=API_KEY,
    )  # fmt: skip
    assert on_manifest.returncode == 2
    assert "--report" in on_manifest.stderr
    assert "is the manifest itself" in on_manifest.stderr
    assert manifest.read_bytes() == before
    key_file = tmp_path / "key.txt"
    key_file.write_text(API_KEY + "\n")
    on_key = run_command(
        "run", str(manifest), "--api-key-file", str(key_file), "--report", str(key_file),
        "--overwrite", cwd=tmp_path,
    )  # fmt: skip
    assert on_key.returncode == 2
    assert "is the API key file" in on_key.stderr
    assert key_file.read_text() == API_KEY + "\n"
