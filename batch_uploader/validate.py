"""The `validate` command's work: check every row and file, send nothing."""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from batch_uploader.api import undocumented_id_type
from batch_uploader.errors import InvalidRowError
from batch_uploader.manifest import ManifestRow, ReadingTally, RowProblem, open_manifest
from batch_uploader.prepare import check_files, plan_row
from batch_uploader.settings import RowRules


@dataclass(frozen=True, slots=True, kw_only=True)
class RowCheck:
    """What `validate` found in one row: a problem that makes it invalid, and warnings."""

    row: int
    line: int
    submission_id: str
    problem: RowProblem | None
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationSummary:
    """Totals of a `validate` run."""

    rows: int
    invalid: int
    warnings: int
    blank_rows: int = 0

    @property
    def all_valid(self) -> bool:
        return self.invalid == 0


# The duplicate check keeps no pair in memory. A fixed map of 2^28 bits (32 MB, its pages
# touched only as hashes land on them) marks each (submissionId, image field) pair seen; a
# pair whose bit is already set may repeat an earlier one. Only when some may, a second pass
# over the manifest names the earlier row of each repeat, keeping just those pairs.
SEEN_MAP_BITS = 1 << 28


def validate_manifest(
    manifest_path: Path,
    rules: RowRules,
    *,
    on_check: Callable[[RowCheck], None] = lambda check: None,
) -> ValidationSummary:
    """Check every row of the manifest as `run` would before sending it.

    Repeated (submissionId, image field) pairs are reported after the rows' own checks,
    from a second pass; memory stays flat whatever the manifest's size.
    """
    seen = mmap.mmap(-1, SEEN_MAP_BITS // 8)
    maybe_repeated: set[int] = set()
    rows = invalid = warnings = 0
    tally = ReadingTally()
    with open_manifest(manifest_path, tally) as manifest:
        for row in manifest:
            check = _check_row(row, rules, manifest_path.parent)
            for _, spot in _pairs(row):
                byte, bit = divmod(spot, 8)
                if seen[byte] & (1 << bit):
                    maybe_repeated.add(spot)
                else:
                    seen[byte] |= 1 << bit
            rows += 1
            invalid += check.problem is not None
            warnings += len(check.warnings)
            on_check(check)
    seen.close()
    if maybe_repeated:
        warnings += _report_repeats(manifest_path, maybe_repeated, on_check)
    return ValidationSummary(
        rows=rows, invalid=invalid, warnings=warnings, blank_rows=tally.blank_rows
    )


def _pairs(row: ManifestRow) -> Iterator[tuple[tuple[str, str], int]]:
    """Each (submissionId, image field) pair of the row, and where it falls in the seen map."""
    if row.submission_id:
        for field in row.image_fields:
            pair = (row.submission_id, field)
            yield pair, hash(pair) & (SEEN_MAP_BITS - 1)


def _report_repeats(
    manifest_path: Path, maybe_repeated: set[int], on_check: Callable[[RowCheck], None]
) -> int:
    """The second pass: a warning for each pair set again in a later row; their number."""
    first_row_of: dict[tuple[str, str], int] = {}
    repeats = 0
    with open_manifest(manifest_path) as manifest:
        for row in manifest:
            found: list[str] = []
            for pair, spot in _pairs(row):
                if spot not in maybe_repeated:
                    continue
                earlier = first_row_of.setdefault(pair, row.row)
                if earlier != row.row:
                    submission_id, field = pair
                    found.append(
                        f"{field} of {submission_id} is also set in row {earlier}; "
                        "the later upload replaces the earlier one"
                    )
            if found:
                repeats += len(found)
                on_check(
                    RowCheck(
                        row=row.row,
                        line=row.line,
                        submission_id=row.submission_id,
                        problem=None,
                        warnings=tuple(found),
                    )
                )
    return repeats


def _check_row(row: ManifestRow, rules: RowRules, manifest_dir: Path) -> RowCheck:
    problem: RowProblem | None = None
    try:
        check_files(plan_row(row, rules, manifest_dir=manifest_dir), rules)
    except InvalidRowError as rejection:
        problem = RowProblem(rejection.code, rejection.message)
    warnings: list[str] = []
    id_type = undocumented_id_type(row.values)
    if id_type is not None:
        warnings.append(
            f"idType {id_type!r} is not in the vendor's documented list; it may be refused"
        )
    return RowCheck(
        row=row.row,
        line=row.line,
        submission_id=row.submission_id,
        problem=problem,
        warnings=tuple(warnings),
    )
