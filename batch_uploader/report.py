"""The per-row report: one CSV or JSON Lines line per row, flushed as each row finishes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import IO

from batch_uploader.errors import ConfigurationError, ReportExistsError
from batch_uploader.models import RowResult

REPORT_COLUMNS = (
    "row",
    "submissionId",
    "fields",
    "status",
    "httpStatus",
    "errorCode",
    "message",
    "attempts",
    "elapsedMs",
    "finishedAt",
)
REPORT_MODE = 0o600


def default_report_path(manifest_path: Path) -> Path:
    """`<manifest stem>.report.csv` in the current folder."""
    return Path(f"{manifest_path.stem}.report.csv")


def report_record(result: RowResult) -> dict[str, str | int | None]:
    """The report's columns for one row, in order; empty values are None."""
    return {
        "row": result.row,
        "submissionId": result.submission_id,
        "fields": ";".join(result.fields),
        "status": result.status.value,
        "httpStatus": result.http_status,
        "errorCode": result.error_code or None,
        "message": result.message or None,
        "attempts": result.attempts,
        "elapsedMs": result.elapsed_ms,
        "finishedAt": result.finished_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


class ReportWriter:
    """Writes report lines; each line reaches the operating system before `write` returns."""

    def __init__(self, file: IO[str], *, jsonl: bool) -> None:
        self._file = file
        self._jsonl = jsonl
        self._csv = csv.writer(file, lineterminator="\n")
        if not jsonl:
            self._csv.writerow(REPORT_COLUMNS)
            file.flush()

    def write(self, result: RowResult) -> None:
        record = report_record(result)
        if self._jsonl:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow("" if value is None else value for value in record.values())
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_report(path: Path, *, overwrite: bool) -> ReportWriter:
    """Create the report with mode 0600; refuse to replace one unless `overwrite`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, REPORT_MODE)
    except FileExistsError:
        raise ReportExistsError(
            f"report {path} exists already; pass --overwrite to replace it, or --report to "
            "write elsewhere"
        ) from None
    except OSError as error:
        raise ConfigurationError(f"cannot create report {path}: {error.strerror}") from None
    # An existing file keeps its old mode through O_TRUNC.
    os.fchmod(fd, REPORT_MODE)
    file = os.fdopen(fd, "w", encoding="utf-8", newline="")
    return ReportWriter(file, jsonl=path.suffix.lower() == ".jsonl")
