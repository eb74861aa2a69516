"""`--resume`: keep the `ok` lines of an existing report and say which rows they cover.

The report is first rewritten to hold only its `ok` lines (through a temporary file and an
atomic rename, so a crash at any moment leaves either the old or the new file), then opened
for appending: every earlier `ok` line survives any later crash.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from array import array
from collections.abc import Iterator, Mapping
from pathlib import Path

from batch_uploader.errors import ConfigurationError
from batch_uploader.models import submission_hash
from batch_uploader.report import (
    REPORT_COLUMNS,
    ReportWriter,
    is_jsonl,
    open_private,
    open_report,
    text_file,
)

logger = logging.getLogger(__name__)

# Row numbers index a flat array; beyond this a report is not one of ours.
MAX_ROW = 2**31


class EarlierOkRows:
    """The rows an earlier run finished `ok`, matched by row number and submissionId.

    Eight bytes per row (a hash of the submissionId at the row's index), so ten million
    rows cost 80 MB rather than the gigabytes a set of tuples would.
    """

    def __init__(self) -> None:
        self._hashes = array("Q")
        self.count = 0

    def add(self, row: int, submission_id: str) -> bool:
        if len(self._hashes) <= row:
            self._hashes.extend([0] * (row + 1 - len(self._hashes)))
        if self._hashes[row]:
            return False
        self._hashes[row] = _hash(submission_id)
        self.count += 1
        return True

    def __contains__(self, key: tuple[int, str]) -> bool:
        row, submission_id = key
        return row < len(self._hashes) and self._hashes[row] == _hash(submission_id)


def resume_report(path: Path) -> tuple[ReportWriter, EarlierOkRows]:
    """Keep the `ok` lines of the report at `path` and open it to append the rest."""
    earlier = EarlierOkRows()
    if not path.exists():
        logger.warning("no report at %s to resume; starting a new one", path)
        return open_report(path, overwrite=False), earlier
    jsonl = is_jsonl(path)
    temporary = path.with_name(f".{path.name}.resume")
    try:
        with path.open(encoding="utf-8", newline="") as source:
            kept = ReportWriter(
                text_file(open_private(temporary, os.O_TRUNC)), path=temporary, jsonl=jsonl
            )
            with kept:
                for record in _records(source, path, jsonl=jsonl):
                    if record.get("status") == "ok" and _add(earlier, record):
                        kept.write_record(record)
                kept.sync()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot resume from report {path}: {error}") from None
    temporary.replace(path)
    return ReportWriter(
        text_file(open_private(path, os.O_APPEND)), path=path, jsonl=jsonl, header=False
    ), earlier


def _add(earlier: EarlierOkRows, record: Mapping[str, object]) -> bool:
    try:
        row = int(str(record["row"]))
    except (KeyError, ValueError):
        return False
    if not 1 <= row < MAX_ROW:
        return False
    return earlier.add(row, str(record.get("submissionId", "")))


def _records(source: Iterator[str], path: Path, *, jsonl: bool) -> Iterator[dict[str, object]]:
    if jsonl:
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
            "pass --report to choose the right file"
        )
    for cells in reader:
        if len(cells) == len(REPORT_COLUMNS):
            yield dict(zip(REPORT_COLUMNS, cells, strict=True))


def _hash(submission_id: str) -> int:
    return submission_hash(submission_id) or 1  # 0 marks a row not ok
