"""`report merge`: the reports of a manifest's shards as one report, in row order.

A run writes lines as rows finish, not in row order, and a migration's shard reports hold
millions of lines: they are sorted in runs of `SORT_RUN_LINES` kept in temporary files, then
merged (`heapq.merge`), so memory stays flat whatever the size.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from batch_uploader.errors import ConfigurationError
from batch_uploader.report import REPORT_COLUMNS, ReportWriter, is_jsonl
from batch_uploader.report_lines import (
    LineTally,
    read_report_lines,
    refuse_same_file,
    replaced_privately,
    typed_record,
)

SORT_RUN_LINES = 100_000

# A line on its way through the sort: row, which report it came from, and its column values
# as JSON text (a third of the memory of the values themselves).
_Entry = tuple[int, int, str]


@dataclass(frozen=True, kw_only=True)
class MergeResult:
    """What a merge wrote: rows, their range, and how many row numbers in it no report had
    (a shard's report left out shows here)."""

    output: Path
    reports: int
    rows: int
    first_row: int | None
    last_row: int | None
    unreadable_lines: int

    @property
    def missing_rows(self) -> int:
        return 0 if self.last_row is None else self.last_row - self.rows


def merge_reports(paths: Sequence[Path], output: Path, *, overwrite: bool = False) -> MergeResult:
    """Merge the reports at `paths` into `output` (CSV, or JSON Lines by its name), in row
    order. Refuses, writing nothing, reports that share a row: the same shard twice, or
    reports of different manifests."""
    refuse_same_file(output, {f"report {path}": path for path in paths})
    tally = LineTally()
    rows, first, last = 0, None, None
    with (
        replaced_privately(output, overwrite=overwrite) as file,
        tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as folder,
    ):
        writer = ReportWriter(file, path=output, jsonl=is_jsonl(output), flush_each_line=False)
        previous: _Entry | None = None
        for entry in heapq.merge(*_sorted_runs(paths, tally, Path(folder)), key=_order):
            if previous is not None and entry[0] == previous[0]:
                raise _overlap(paths, previous, entry)
            writer.write_record(dict(zip(REPORT_COLUMNS, json.loads(entry[2]), strict=True)))
            rows += 1
            first = entry[0] if first is None else first
            last, previous = entry[0], entry
    return MergeResult(
        output=output,
        reports=len(paths),
        rows=rows,
        first_row=first,
        last_row=last,
        unreadable_lines=tally.unreadable,
    )


def _sorted_runs(paths: Sequence[Path], tally: LineTally, folder: Path) -> list[Iterator[_Entry]]:
    entries = (
        (line.row, index, json.dumps(list(typed_record(line.record).values()), ensure_ascii=False))
        for index, path in enumerate(paths)
        for line in read_report_lines(path, tally)
    )
    runs: list[Iterator[_Entry]] = []
    while batch := sorted(itertools.islice(entries, SORT_RUN_LINES), key=_order):
        if len(batch) < SORT_RUN_LINES and not runs:
            return [iter(batch)]  # small enough to stay in memory: no temporary file
        runs.append(_spilled(batch, folder / f"run-{len(runs)}.jsonl"))
    return runs


def _order(entry: _Entry) -> tuple[int, int]:
    return entry[0], entry[1]


def _spilled(batch: list[_Entry], path: Path) -> Iterator[_Entry]:
    """Write a sorted batch to `path` (mode 0600) and read it back lazily when merged."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as file:
        file.writelines(f"{row} {index} {text}\n" for row, index, text in batch)
    return _read_back(path)


def _read_back(path: Path) -> Iterator[_Entry]:
    with path.open(encoding="utf-8", errors="surrogateescape") as file:
        for line in file:
            row, index, text = line.rstrip("\n").split(" ", 2)
            yield int(row), int(index), text


def _overlap(paths: Sequence[Path], earlier: _Entry, later: _Entry) -> ConfigurationError:
    row = earlier[0]
    first, second = paths[earlier[1]], paths[later[1]]
    where = f"both {first} and {second}" if first != second else f"{first} twice"
    submission_column = REPORT_COLUMNS.index("submissionId")
    ours = json.loads(earlier[2])[submission_column]
    theirs = json.loads(later[2])[submission_column]
    if ours != theirs:
        return ConfigurationError(
            f"row {row} is {ours!r} in {first} and {theirs!r} in {second}: these are reports "
            "of different manifests; merge the shards of one manifest at a time"
        )
    return ConfigurationError(
        f"row {row} ({ours}) is in {where}: the same shard given twice, or a report and its "
        "copy? Give each shard's report once"
    )
