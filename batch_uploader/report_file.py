"""Opening the report file: new, overwritten, or resumed, behind one function.

Resuming first rewrites the report to hold only its `ok` lines (through a temporary file and
an atomic rename, so a crash at any moment leaves either the old or the new file), then
opens it for appending: every earlier `ok` line survives any later crash.
"""

from __future__ import annotations

import logging
import os
import stat
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from batch_uploader.errors import ConfigurationError, ReportExistsError
from batch_uploader.report import ReportWriter, is_jsonl, read_records
from batch_uploader.report_lock import ReportLock
from batch_uploader.sharding import submission_hash

logger = logging.getLogger(__name__)

REPORT_MODE = 0o600
# Row numbers index a flat array; beyond this a report is not one of ours.
MAX_ROW = 2**31
# The flat array grows to twice its length plus this many rows at once; a row number
# further out is kept in a dict.
DENSE_GROWTH = 1 << 20


class ReportMode(StrEnum):
    """What to do with a report that may exist already."""

    NEW = "new"  # refuse an existing report
    OVERWRITE = "overwrite"
    RESUME = "resume"  # keep its ok lines and append the rest


class EarlierOkRows:
    """The rows an earlier run finished `ok`, matched by row number and submissionId.

    Eight bytes per row (a hash of the submissionId at the row's index), so ten million
    rows cost 80 MB rather than the gigabytes a set of tuples would. A row number far beyond
    those seen so far goes to a small dict instead: one line claiming row 2,147,483,647
    would otherwise take 16 GB.
    """

    def __init__(self) -> None:
        self._hashes = array("Q")
        self._far: dict[int, int] = {}
        self.count = 0

    def add(self, row: int, submission_id: str) -> bool:
        dense = len(self._hashes)
        if dense <= row < 2 * dense + DENSE_GROWTH:
            self._hashes.extend([0] * (row + 1 - dense))
        if (row < len(self._hashes) and self._hashes[row]) or row in self._far:
            return False
        if row < len(self._hashes):
            self._hashes[row] = _hash(submission_id)
        else:
            self._far[row] = _hash(submission_id)
        self.count += 1
        return True

    def __contains__(self, key: tuple[int, str]) -> bool:
        row, submission_id = key
        wanted = _hash(submission_id)
        if row < len(self._hashes) and self._hashes[row] == wanted:
            return True
        return self._far.get(row) == wanted


@dataclass(frozen=True, slots=True)
class OpenReport:
    """A report ready for this run's lines, the rows it already holds as `ok`, and the lock
    that keeps every other run off it until `close`."""

    writer: ReportWriter
    earlier_ok: EarlierOkRows
    lock: ReportLock

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.lock.release()

    def __enter__(self) -> OpenReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def same_file(path: Path, other: Path) -> bool:
    """Whether two paths name one file (by name, or through links): a report must not be the
    manifest or the key file."""
    if path.resolve() == other.resolve():
        return True
    try:
        return path.samefile(other)
    except OSError:
        return False


def open_report(path: Path, mode: ReportMode) -> OpenReport:
    """Lock the report at `path` for a run and open it; created with mode 0600 whatever
    `mode` is. Raises `ReportInUseError` when another run holds it."""
    _refuse_what_is_not_a_file(path)
    lock = ReportLock(path)
    try:
        writer, earlier = _open_locked(path, mode)
    except BaseException:
        lock.release()
        raise
    return OpenReport(writer, earlier, lock)


def _refuse_what_is_not_a_file(path: Path) -> None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise ConfigurationError(f"cannot use report {path}: {error.strerror}") from None
    if not stat.S_ISREG(status.st_mode):
        raise ConfigurationError(f"report {path} is not a regular file; name a file for the report")


def _open_locked(path: Path, mode: ReportMode) -> tuple[ReportWriter, EarlierOkRows]:
    if mode is ReportMode.RESUME:
        if path.exists():
            return _resume(path)
        logger.warning("no report at %s to resume; starting a new one", path)
    try:
        fd = _open_private(path, os.O_TRUNC if mode is ReportMode.OVERWRITE else os.O_EXCL)
    except FileExistsError:
        raise ReportExistsError(path) from None
    return ReportWriter(_text_file(fd), path=path, jsonl=is_jsonl(path)), EarlierOkRows()


def _resume(path: Path) -> tuple[ReportWriter, EarlierOkRows]:
    earlier = EarlierOkRows()
    jsonl = is_jsonl(path)
    temporary = path.with_name(f".{path.name}.resume")
    try:
        with path.open(encoding="utf-8", newline="") as source:
            kept_file = _text_file(_open_private(temporary, os.O_TRUNC))
            with ReportWriter(kept_file, path=temporary, jsonl=jsonl) as kept:
                for record in read_records(source, path):
                    if record.get("status") == "ok" and _add(earlier, record):
                        kept.write_record(record)
                kept.sync()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot resume from report {path}: {error}") from None
    temporary.replace(path)
    writer = ReportWriter(
        _text_file(_open_private(path, os.O_APPEND)), path=path, jsonl=jsonl, header=False
    )
    return writer, earlier


def _add(earlier: EarlierOkRows, record: Mapping[str, object]) -> bool:
    try:
        row = int(str(record["row"]))
    except (KeyError, ValueError):
        return False
    if not 1 <= row < MAX_ROW:
        return False
    return earlier.add(row, str(record.get("submissionId", "")))


def _hash(submission_id: str) -> int:
    return submission_hash(submission_id) or 1  # 0 marks a row not ok


def _open_private(path: Path, mode_flag: int) -> int:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode_flag, REPORT_MODE)
    except FileExistsError:
        raise
    except OSError as error:
        raise ConfigurationError(f"cannot create report {path}: {error.strerror}") from None
    # An existing file keeps its old mode through O_TRUNC or O_APPEND.
    os.fchmod(fd, REPORT_MODE)
    return fd


def _text_file(fd: int) -> IO[str]:
    # A folder name that is not UTF-8 reaches row messages as lone surrogates; they are
    # written as \udcXX escapes, so that the report stays UTF-8 and the run goes on.
    return os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="")
