"""Reports read back line by line, for the `report` tools: each line's columns as values, and
which line of a row is its latest."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from batch_uploader.errors import ConfigurationError
from batch_uploader.report import read_records
from batch_uploader.report_file import REPORT_MODE, same_file
from batch_uploader.results import Status

# A row number past this is no row a manifest of ours had: the line is counted unreadable
# (and the status table stays at most this many bytes).
MAX_TOOL_ROW = 2**28
_STATUS_CODES = {status.value: code for code, status in enumerate(Status, start=1)}
_STATUSES = {code: status for status, code in _STATUS_CODES.items()}


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One line of a report, its columns as the report holds them (`record`) and as values."""

    report: Path
    row: int
    submission_id: str
    status: str
    error_code: str
    message: str
    attempts: int
    finished_at: str
    record: Mapping[str, object]


@dataclass
class LineTally:
    """Lines read, and those whose columns made no sense (a hand-edited report)."""

    lines: int = 0
    unreadable: int = 0


def read_report_lines(path: Path, tally: LineTally) -> Iterator[ReportLine]:
    """The lines of the report at `path`, in file order; a line cut short by a crash or with
    a row number or status that is not one is counted in `tally` and left out."""
    try:
        file = path.open(encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as error:
        raise ConfigurationError(f"cannot read report {path}: {error.strerror}") from None
    with file:
        for record in read_records(file, path):
            tally.lines += 1
            line = _line(path, record)
            if line is None:
                tally.unreadable += 1
                continue
            yield line


def _line(path: Path, record: Mapping[str, object]) -> ReportLine | None:
    try:
        row = int(str(record["row"]))
        attempts = int(str(record["attempts"] or 0))
    except ValueError:
        return None
    status = str(record["status"])
    if not 1 <= row <= MAX_TOOL_ROW or status not in _STATUS_CODES:
        return None
    return ReportLine(
        report=path,
        row=row,
        submission_id=str(record["submissionId"] or ""),
        status=status,
        error_code=str(record["errorCode"] or ""),
        message=str(record["message"] or ""),
        attempts=attempts,
        finished_at=str(record["finishedAt"] or ""),
        record=record,
    )


class LatestStatuses:
    """The status of each row's latest line: one byte a row, so that a report of millions of
    rows is summed up in a few megabytes."""

    def __init__(self) -> None:
        self._codes = bytearray()

    def replace(self, row: int, status: str) -> str | None:
        """Record `status` as the row's latest; return the one it replaces, if any."""
        if row >= len(self._codes):
            self._codes.extend(bytes(max(row + 1 - len(self._codes), len(self._codes))))
        previous = self._codes[row]
        self._codes[row] = _STATUS_CODES[status]
        return _STATUSES.get(previous)


def refuse_same_file(output: Path, inputs: Mapping[str, Path]) -> None:
    """The output of a tool must not be one of the files it reads."""
    for role, path in inputs.items():
        if same_file(output, path):
            raise ConfigurationError(f"-o {output} is the {role}; name another file to write")


@contextmanager
def replaced_privately(path: Path, *, overwrite: bool) -> Iterator[IO[str]]:
    """A text file that becomes `path` (mode 0600) only when the block ends without an
    error: a refusal halfway through leaves no half-written file. An existing `path` is
    replaced only with `overwrite`."""
    if path.exists() and not overwrite:
        raise ConfigurationError(f"{path} exists already; pass --overwrite to replace it")
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise ConfigurationError(f"cannot write {path}: {error.strerror}") from None
    os.fchmod(fd, REPORT_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as file:
            yield file
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_INT_COLUMNS = frozenset({"row", "httpStatus", "attempts", "elapsedMs"})


def typed_record(record: Mapping[str, object]) -> dict[str, object]:
    """A line's columns as a run writes them: numbers as numbers, empty cells as None (a CSV
    report read back holds only text)."""
    typed: dict[str, object] = {}
    for column, value in record.items():
        if value == "" or value is None:
            typed[column] = None
        elif column in _INT_COLUMNS and isinstance(value, str) and value.isdigit():
            typed[column] = int(value)
        else:
            typed[column] = value
    return typed
