"""The per-row report: one CSV or JSON Lines line per row, flushed as each row finishes."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from batch_uploader.errors import ConfigurationError, ReportExistsError, ReportWriteError
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

    def __init__(self, file: IO[str], *, path: Path, jsonl: bool, header: bool = True) -> None:
        self._file = file
        self._path = path
        self._jsonl = jsonl
        self._broken = False
        self._csv = csv.writer(file, lineterminator="\n")
        if header and not jsonl:
            self._guarded(lambda: self._csv.writerow(REPORT_COLUMNS))

    def write(self, result: RowResult) -> None:
        self.write_record(report_record(result))

    def write_record(self, record: Mapping[str, object]) -> None:
        """Write one line from its column values and flush it to the operating system."""
        if self._jsonl:
            line = json.dumps(record, ensure_ascii=False) + "\n"
            self._guarded(lambda: self._file.write(line))
        else:
            cells = ["" if value is None else value for value in record.values()]
            self._guarded(lambda: self._csv.writerow(cells))

    def sync(self) -> None:
        """Ask the operating system to put what was written on disk."""
        self._guarded(lambda: os.fsync(self._file.fileno()))

    def _guarded(self, write: Callable[[], object]) -> None:
        try:
            write()
            self._file.flush()
        except OSError as error:
            self._broken = True
            raise ReportWriteError(
                f"cannot write the report {self._path}: {error.strerror}. The lines written "
                "so far are kept: make room, then run the same command with --resume"
            ) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            # Closing flushes again what could not be written; that error is already raised.
            if not self._broken:
                raise

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() == ".jsonl"


def open_report(path: Path, *, overwrite: bool) -> ReportWriter:
    """Create the report with mode 0600; refuse to replace one unless `overwrite`."""
    try:
        fd = open_private(path, os.O_TRUNC if overwrite else os.O_EXCL)
    except FileExistsError:
        raise ReportExistsError(
            f"report {path} exists already; pass --resume to continue it, --overwrite to "
            "replace it, or --report to write elsewhere"
        ) from None
    return ReportWriter(text_file(fd), path=path, jsonl=is_jsonl(path))


def open_private(path: Path, mode_flag: int) -> int:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode_flag, REPORT_MODE)
    except FileExistsError:
        raise
    except OSError as error:
        raise ConfigurationError(f"cannot create report {path}: {error.strerror}") from None
    # An existing file keeps its old mode through O_TRUNC or O_APPEND.
    os.fchmod(fd, REPORT_MODE)
    return fd


def text_file(fd: int) -> IO[str]:
    return os.fdopen(fd, "w", encoding="utf-8", newline="")
