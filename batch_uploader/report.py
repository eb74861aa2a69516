"""The report's format: one CSV or JSON Lines line per row, written and read back.

`report_file` opens the file; this module only knows what a line holds.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from batch_uploader.errors import ConfigurationError, ReportWriteError
from batch_uploader.manifest import ManifestStream, RowBrief
from batch_uploader.results import RowResult, Status

_NEEDS_QUOTES = re.compile('[,"\r\n]')
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
# `write_cancelled` formats the columns up to this one per row, the rest once.
_FIELDS_COLUMN = REPORT_COLUMNS.index("fields")


def default_report_path(manifest: Path | ManifestStream) -> Path:
    """`<manifest stem>.report.csv` in the current folder (`stdin.report.csv` for a stream)."""
    name = manifest.name if isinstance(manifest, ManifestStream) else manifest.stem
    return Path(f"{name}.report.csv")


def is_jsonl(path: Path) -> bool:
    """Whether a report at `path` is JSON Lines (by its name) rather than CSV."""
    return path.suffix.lower() == ".jsonl"


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
        "finishedAt": _timestamp(result.finished_at),
    }


def csv_result_line(result: RowResult) -> str:
    """`report_record`'s CSV line, as the csv module writes it, formatted directly: every
    row of a run writes one, and the dict and the csv writer were half of its cost."""
    http_status = "" if result.http_status is None else result.http_status
    return (
        f"{result.row},{_csv_cell(result.submission_id)},{';'.join(result.fields)},"
        f"{result.status.value},{http_status},{_csv_cell(result.error_code)},"
        f"{_csv_cell(result.message)},{result.attempts},{result.elapsed_ms},"
        f"{_timestamp(result.finished_at)}\n"
    )


def _timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC, to the millisecond: `2026-11-30T15:47:31.422Z`."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # Rows that finish within the same second share all but the milliseconds; `isoformat`
    # for each was 5 % of the instructions of a row's own work.
    second = _whole_second(
        (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    )
    return f"{second}.{moment.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=1)
def _whole_second(moment: tuple[int, int, int, int, int, int]) -> str:
    year, month, day, hour, minute, second = moment
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _csv_line(cells: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _csv_cell(text: str) -> str:
    """One cell as the csv module writes it (QUOTE_MINIMAL), without its per-line cost."""
    if _NEEDS_QUOTES.search(text) is None:
        return text
    return _csv_line([text])[:-1]


class ReportWriter:
    """Writes report lines; each line reaches the operating system before `write` returns
    (unless `flush_each_line` is off: a file written in one go, then renamed into place)."""

    def __init__(
        self,
        file: IO[str],
        *,
        path: Path,
        jsonl: bool,
        header: bool = True,
        flush_each_line: bool = True,
    ) -> None:
        self._file = file
        self._path = path
        self._jsonl = jsonl
        self._flush_each_line = flush_each_line
        self._broken = False
        self._csv = csv.writer(file, lineterminator="\n")
        if header and not jsonl:
            self._guarded(lambda: self._csv.writerow(REPORT_COLUMNS))

    def write(self, result: RowResult) -> None:
        if self._jsonl:
            self.write_record(report_record(result))
            return
        line = csv_result_line(result)
        self._guarded(lambda: self._file.write(line))

    def write_cancelled(
        self, rows: Sequence[RowBrief], *, message: str, finished_at: datetime
    ) -> None:
        """The `cancelled` lines of rows never started, written and flushed as one.

        After a stop, a huge manifest's remaining rows must not cost a flush, a `RowResult`
        or a trip through the csv module each (3 us a line): the columns after `fields` are
        the same on every line, so they are formatted once.
        """
        line = report_record(
            RowResult(
                row=0,
                submission_id="",
                fields=(),
                status=Status.CANCELLED,
                message=message,
                finished_at=finished_at,
            )
        )
        same = dict(itertools.islice(line.items(), _FIELDS_COLUMN + 1, None))
        if self._jsonl:
            tail = json.dumps(same, ensure_ascii=False)[1:]
            text = "".join(
                f'{{"row": {row}, "submissionId": {_json_text(submission_id)}, '
                f'"fields": "{fields}", {tail}\n'
                for row, submission_id, fields in rows
            )
        else:
            tail = _csv_line(["" if value is None else value for value in same.values()])
            text = "".join(
                f"{row},{_csv_cell(submission_id)},{fields},{tail}"
                for row, submission_id, fields in rows
            )
        self._guarded(lambda: self._file.write(text))

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
            if self._flush_each_line:
                self._file.flush()
        except OSError as error:
            self._broken = True
            raise ReportWriteError(self._path, error.strerror or str(error)) from None

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


def read_records(source: Iterator[str], path: Path) -> Iterator[dict[str, object]]:
    """The complete lines of a report, as column values; a line cut short is left out."""
    if is_jsonl(path):
        for line in source:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(record, dict) and tuple(record) == REPORT_COLUMNS:
                yield record
        return
    reader = csv.reader(source)
    header = next(reader, None)
    if header is not None and tuple(header) != REPORT_COLUMNS:
        raise ConfigurationError(
            f"{path} is not a batch-uploader report (its header differs); "
            "choose the right report path"
        )
    for cells in reader:
        if len(cells) == len(REPORT_COLUMNS):
            yield dict(zip(REPORT_COLUMNS, cells, strict=True))
