"""`report failed`: the manifest rows a run did not get through (latest line `failed` or
`invalid`), written as a CSV manifest to fix and run again."""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from batch_uploader.api import FIELD_ORDER, IMAGE_FIELDS
from batch_uploader.errors import ConfigurationError
from batch_uploader.manifest import CSV_SUFFIXES, ManifestRow, manifest_folder, open_manifest
from batch_uploader.report_lines import (
    LineTally,
    ReportLine,
    read_report_lines,
    refuse_same_file,
    replaced_privately,
)
from batch_uploader.results import Status

TO_FIX = frozenset({Status.FAILED.value, Status.INVALID.value})


@dataclass(frozen=True, kw_only=True)
class FailedRows:
    """What `write_failed_rows` wrote: how many rows, and their errorCodes."""

    output: Path
    rows: int
    by_error_code: Counter[str]
    unreadable_lines: int


def write_failed_rows(
    report: Path,
    manifest: Path,
    output: Path,
    *,
    base_dir: Path | None = None,
    overwrite: bool = False,
) -> FailedRows:
    """Write the rows of `manifest` whose latest line in `report` is failed or invalid to the
    CSV manifest `output`, defaults applied.

    Relative image paths are rewritten to lead to the same files from `output`'s folder,
    unless the run resolves them against `base_dir` (its --base-dir): then they are kept.
    """
    if output.suffix.lower() not in CSV_SUFFIXES:
        raise ConfigurationError(f"-o {output}: the manifest written is CSV; name it .csv")
    refuse_same_file(output, {"report": report, "manifest": manifest})
    tally = LineTally()
    to_fix = _rows_to_fix(report, tally)
    by_error_code = Counter(line.error_code for line in to_fix.values())
    rows = 0
    rebase = None if base_dir is not None else _rebasing(manifest, output)
    with replaced_privately(output, overwrite=overwrite) as file, open_manifest(manifest) as reader:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(FIELD_ORDER)
        for row in reader:
            if not to_fix:
                break
            line = to_fix.pop(row.row, None)
            if line is None:
                continue
            if row.submission_id != line.submission_id:
                raise _not_of_this_manifest(report, manifest, line, row.submission_id)
            writer.writerow(_cells(row, rebase))
            rows += 1
        if to_fix:
            line = to_fix[min(to_fix)]
            raise _not_of_this_manifest(report, manifest, line, None)
    return FailedRows(
        output=output, rows=rows, by_error_code=by_error_code, unreadable_lines=tally.unreadable
    )


def _rows_to_fix(report: Path, tally: LineTally) -> dict[int, ReportLine]:
    """Rows whose latest line is failed or invalid (a later line of a row replaces it)."""
    to_fix: dict[int, ReportLine] = {}
    for line in read_report_lines(report, tally):
        if line.status in TO_FIX:
            to_fix[line.row] = line
        else:
            to_fix.pop(line.row, None)
    return to_fix


def _rebasing(manifest: Path, output: Path) -> tuple[Path, Path] | None:
    """(manifest folder, output folder) when relative paths must change to stay right."""
    source = manifest_folder(manifest).resolve()
    target = output.parent.resolve()
    return None if source == target else (source, target)


def _cells(row: ManifestRow, rebase: tuple[Path, Path] | None) -> list[str]:
    cells = []
    for name in FIELD_ORDER:
        value = row.values.get(name, "")
        if value and rebase is not None and name in IMAGE_FIELDS and not Path(value).is_absolute():
            source, target = rebase
            value = os.path.relpath(source / value, target)
        cells.append(value)
    return cells


def _not_of_this_manifest(
    report: Path, manifest: Path, line: ReportLine, in_manifest: str | None
) -> ConfigurationError:
    found = "has no such row" if in_manifest is None else f"has {in_manifest!r} there"
    return ConfigurationError(
        f"{report} is not a report of {manifest}: its row {line.row} is "
        f"{line.submission_id!r}, and the manifest {found}; give the manifest the run used"
    )
