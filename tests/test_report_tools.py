"""`batch-uploader report summary | merge | failed`, on the reports of real sharded runs
against the mock server."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from batch_uploader import report_merge
from batch_uploader.cli import cli
from batch_uploader.mock.server import MockConfig, RunningMockServer

from .support import ADMIN_SELFIE_COLUMNS, API_KEY, write_csv_manifest

EXAMPLE_IMAGES = Path(__file__).resolve().parent.parent / "manifests" / "images"
StartServer = Callable[[MockConfig], RunningMockServer]
ROWS = 10
# A file name with a line break: its row's message (file_not_found) spans two lines.
MISSING = "images/missing\nphoto.jpg"
UNKNOWN = "sub-07-unknown"


def invoke(*args: str) -> Result:
    env = {"ARGOS_API_KEY": API_KEY, "ARGOS_BASE_URL": None, "ARGOS_ADMIN": None}
    return CliRunner().invoke(cli, list(args), env=env)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def submission(number: int) -> str:
    return UNKNOWN if number == 7 else f"sub-{number:02d}"


@dataclass
class Migration:
    """A manifest run as two shards: row 4 invalid (its file is missing), row 7 failed (the
    API does not know its submission), the rest ok."""

    manifest: Path
    shards: list[Path]
    server: RunningMockServer


@pytest.fixture
def migration(server_in_thread: StartServer, tmp_path: Path) -> Migration:
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE_IMAGES, folder / "images")
    rows = [
        (submission(n), "ops@example.com", MISSING if n == 4 else "images/bob-selfie.png")
        for n in range(1, ROWS + 1)
    ]
    manifest = write_csv_manifest(folder / "m.csv", rows, columns=ADMIN_SELFIE_COLUMNS)
    known = frozenset(submission(n) for n in range(1, ROWS + 1)) - {UNKNOWN}
    server = server_in_thread(MockConfig(api_key=API_KEY, submissions=known))
    shards = []
    for index in (1, 2):
        report = tmp_path / f"shard-{index}.csv"
        result = invoke(
            "run", str(manifest), "--base-url", server.url, "--report", str(report),
            "--shard", f"{index}/2", "--quiet",
        )  # fmt: skip
        assert result.exit_code in {0, 1}, result.output
        shards.append(report)
    assert all(read_csv(shard) for shard in shards), "a shard got no row: pick other ids"
    return Migration(manifest=manifest, shards=shards, server=server)


def test_merge_puts_the_shards_lines_in_row_order(migration: Migration, tmp_path: Path) -> None:
    merged = tmp_path / "all.csv"
    result = invoke("report", "merge", *map(str, migration.shards), "-o", str(merged))
    assert result.exit_code == 0, result.output
    lines = read_csv(merged)
    assert [line["row"] for line in lines] == [str(n) for n in range(1, ROWS + 1)]
    by_submission = {
        line["submissionId"]: line for shard in migration.shards for line in read_csv(shard)
    }
    assert lines == [by_submission[line["submissionId"]] for line in lines]
    assert lines[3]["errorCode"] == "file_not_found"
    assert "missing\nphoto.jpg" in lines[3]["message"]
    assert stat.S_IMODE(merged.stat().st_mode) == 0o600
    assert f"Merged 2 reports into {merged}: 10 rows, rows 1 to 10, none missing" in result.stderr


def test_merge_writes_json_lines_with_numbers_as_a_run_does(
    migration: Migration, tmp_path: Path
) -> None:
    merged = tmp_path / "all.jsonl"
    result = invoke("report", "merge", *map(str, migration.shards), "-o", str(merged))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in merged.read_text().splitlines()]
    assert [record["row"] for record in records] == list(range(1, ROWS + 1))
    assert records[0]["httpStatus"] == 200
    assert records[3]["httpStatus"] is None
    assert records[3]["attempts"] == 0


def test_merge_sorts_in_runs_kept_on_disk_when_the_reports_are_large(
    migration: Migration, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spilled_runs: list[int] = []
    spill = report_merge._spilled

    def recording_spill(batch: list[Any], path: Path) -> Iterator[Any]:
        spilled_runs.append(len(batch))
        return spill(batch, path)

    monkeypatch.setattr(report_merge, "_spilled", recording_spill)
    monkeypatch.setattr(report_merge, "SORT_RUN_LINES", 3)
    in_memory, spilled = tmp_path / "a.csv", tmp_path / "b.csv"
    assert invoke("report", "merge", *map(str, migration.shards), "-o", str(spilled)).exit_code == 0
    assert spilled_runs == [3, 3, 3, 1]
    monkeypatch.setattr(report_merge, "SORT_RUN_LINES", 1000)
    assert (
        invoke("report", "merge", *map(str, migration.shards), "-o", str(in_memory)).exit_code == 0
    )
    assert spilled_runs == [3, 3, 3, 1], "a small merge should stay in memory"
    assert spilled.read_text() == in_memory.read_text()
    # The sorted runs and the temporary output are gone.
    assert [path.name for path in tmp_path.glob(".[ab].csv*")] == []


def test_merge_refuses_the_same_shard_twice_and_writes_nothing(
    migration: Migration, tmp_path: Path
) -> None:
    merged = tmp_path / "all.csv"
    shard = str(migration.shards[0])
    result = invoke("report", "merge", shard, shard, "-o", str(merged))
    assert result.exit_code == 2
    assert "the same shard given twice" in result.stderr
    assert not merged.exists()


def test_merge_refuses_reports_of_different_manifests(migration: Migration, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    rows = [(f"other-{n}", "ops@example.com", "images/bob-selfie.png") for n in range(1, 4)]
    manifest = write_csv_manifest(tmp_path / "in" / "other.csv", rows, columns=ADMIN_SELFIE_COLUMNS)
    result = invoke(
        "run", str(manifest), "--base-url", migration.server.url, "--report", str(other)
    )
    assert result.exit_code == 1  # the server does not know these submissions
    merged = tmp_path / "all.csv"
    result = invoke("report", "merge", *map(str, migration.shards), str(other), "-o", str(merged))
    assert result.exit_code == 2
    assert "reports of different manifests" in result.stderr
    assert not merged.exists()


def test_merge_says_when_row_numbers_are_missing(migration: Migration, tmp_path: Path) -> None:
    result = invoke("report", "merge", str(migration.shards[1]), "-o", str(tmp_path / "half.csv"))
    assert result.exit_code == 0, result.output
    assert "row numbers missing: is a shard's report left out?" in result.stderr


def test_merge_will_not_write_over_a_report_or_an_existing_file(
    migration: Migration, tmp_path: Path
) -> None:
    first = migration.shards[0]
    before = first.read_text()
    result = invoke("report", "merge", *map(str, migration.shards), "-o", str(first))
    assert result.exit_code == 2
    assert "is the report" in result.stderr
    assert first.read_text() == before
    existing = tmp_path / "existing.csv"
    existing.write_text("keep me")
    result = invoke("report", "merge", *map(str, migration.shards), "-o", str(existing))
    assert result.exit_code == 2
    assert "--overwrite" in result.stderr
    assert existing.read_text() == "keep me"


def test_summary_counts_rows_error_codes_and_requests(migration: Migration) -> None:
    result = invoke("report", "summary", "--json", *map(str, migration.shards))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == ROWS
    assert summary["byStatus"] == {"ok": 8, "failed": 1, "invalid": 1, "cancelled": 0}
    assert summary["requests"] == migration.server.received.requests
    codes = {entry["errorCode"]: entry for entry in summary["errorCodes"]}
    assert codes["file_not_found"]["rows"] == 1
    assert codes["file_not_found"]["example"]["row"] == 4
    failed = [code for code, entry in codes.items() if entry["example"]["status"] == "failed"]
    assert [codes[code]["example"]["submissionId"] for code in failed] == [UNKNOWN]
    assert summary["firstFinishedAt"] <= summary["lastFinishedAt"]


def test_summary_text_names_each_status_and_an_example_on_one_line(
    migration: Migration,
) -> None:
    result = invoke("report", "summary", *map(str, migration.shards))
    assert result.exit_code == 0, result.output
    assert ": 10 rows" in result.stdout
    assert "  ok                  8" in result.stdout
    example = next(line for line in result.stdout.splitlines() if "file_not_found" in line)
    assert "row 4 (sub-04):" in example
    assert "missing photo.jpg" in example


def test_summary_counts_a_rows_latest_line(migration: Migration, tmp_path: Path) -> None:
    """A report given twice, or a row retried in a later report: its last line counts."""
    fixed = tmp_path / "fixed.csv"
    lines = read_csv(migration.shards[0]) + read_csv(migration.shards[1])
    with fixed.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(lines[0]), lineterminator="\n")
        writer.writeheader()
        for line in lines:
            if line["status"] != "ok":
                writer.writerow({**line, "status": "ok", "errorCode": "", "httpStatus": "200"})
    result = invoke("report", "summary", "--json", *map(str, migration.shards), str(fixed))
    summary = json.loads(result.stdout)
    assert summary["byStatus"] == {"ok": 10, "failed": 0, "invalid": 0, "cancelled": 0}
    assert summary["rowsWithSeveralLines"] == 2
    assert summary["errorCodes"] == []


def test_failed_writes_a_manifest_of_the_rows_to_fix_that_runs(
    migration: Migration, tmp_path: Path, server_in_thread: StartServer
) -> None:
    merged = tmp_path / "all.csv"
    assert invoke("report", "merge", *map(str, migration.shards), "-o", str(merged)).exit_code == 0
    fix_folder = tmp_path / "fix"
    fix_folder.mkdir()
    fixme = fix_folder / "FIXME.csv"
    result = invoke(
        "report", "failed", str(merged), "--manifest", str(migration.manifest), "-o", str(fixme)
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 2 rows to fix" in result.stderr
    rows = read_csv(fixme)
    assert [row["submissionId"] for row in rows] == ["sub-04", UNKNOWN]
    # Paths now lead from the new manifest's folder to the same files.
    assert [row["selfieImage"] for row in rows] == [
        "../in/" + MISSING,
        "../in/images/bob-selfie.png",
    ]
    assert rows[0]["admin"] == "ops@example.com"
    # Fixed: the missing photo is put in place, and the API now knows the submission.
    shutil.copy(EXAMPLE_IMAGES / "bob-selfie.png", migration.manifest.parent / MISSING)
    server = server_in_thread(MockConfig(api_key=API_KEY))
    result = invoke(
        "run", str(fixme), "--base-url", server.url, "--report", str(tmp_path / "f.csv")
    )
    assert result.exit_code == 0, result.output
    assert sorted(server.received.accepted) == sorted(["sub-04", UNKNOWN])


def test_failed_keeps_paths_for_a_run_with_base_dir(migration: Migration, tmp_path: Path) -> None:
    fixme = tmp_path / "FIXME.csv"
    result = invoke(
        "report", "failed", str(migration.shards[0]), "--manifest", str(migration.manifest),
        "-o", str(fixme), "--base-dir", str(migration.manifest.parent),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert all(row["selfieImage"].startswith("images/") for row in read_csv(fixme))


def test_failed_refuses_a_report_of_another_manifest(migration: Migration, tmp_path: Path) -> None:
    other = write_csv_manifest(
        tmp_path / "other.csv",
        [(f"x-{n}", "ops@example.com", "a.jpg") for n in range(1, ROWS + 1)],
        columns=ADMIN_SELFIE_COLUMNS,
    )
    fixme = tmp_path / "FIXME.csv"
    shard = next(
        shard
        for shard in migration.shards
        if any(line["status"] != "ok" for line in read_csv(shard))
    )
    result = invoke("report", "failed", str(shard), "--manifest", str(other), "-o", str(fixme))
    assert result.exit_code == 2
    assert "is not a report of" in result.stderr
    assert not fixme.exists()


def test_a_report_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    result = invoke("report", "summary", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "cannot read report" in result.stderr
    assert "nope.csv" in result.stderr


def test_failed_from_a_yaml_manifest_applies_its_defaults(
    server_in_thread: StartServer, tmp_path: Path
) -> None:
    example = EXAMPLE_IMAGES.parent / "example.yaml"
    everyone_but_one = frozenset(f"sub-010{n}" for n in range(1, 7)) - {"sub-0101"}
    server = server_in_thread(MockConfig(api_key=API_KEY, submissions=everyone_but_one))
    report = tmp_path / "r.csv"
    assert (
        invoke("run", str(example), "--base-url", server.url, "--report", str(report)).exit_code
        == 1
    )
    fixme = tmp_path / "FIXME.csv"
    result = invoke("report", "failed", str(report), "--manifest", str(example), "-o", str(fixme))
    assert result.exit_code == 0, result.output
    [row] = read_csv(fixme)
    images = Path(os.path.relpath(EXAMPLE_IMAGES, tmp_path))
    assert row == {
        "submissionId": "sub-0101",
        "admin": "ops@example.com",
        "idType": "passport",
        "idImage": str(images / "bob-passport.jpg"),
        "idBackImage": "",
        "selfieImage": str(images / "bob-selfie.png"),
        "addressImage": "",
    }


def test_a_hand_edited_line_is_left_out_and_counted(migration: Migration, tmp_path: Path) -> None:
    edited = tmp_path / "edited.csv"
    lines = migration.shards[0].read_text().splitlines()
    lines[1] = "abc" + lines[1][lines[1].index(",") :]
    edited.write_text("\n".join(lines) + "\n")
    result = invoke("report", "summary", "--json", str(edited))
    summary = json.loads(result.stdout)
    assert summary["unreadableLines"] == 1
    assert summary["rows"] == len(lines) - 2
    text = invoke("report", "summary", str(edited)).stdout
    assert "1 lines left out: their row number or status is not one a report holds" in text
