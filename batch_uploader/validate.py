"""The `validate` command's work: check every row and file, send nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batch_uploader.api import undocumented_id_type
from batch_uploader.errors import InvalidRowError
from batch_uploader.manifest import ManifestRow, ReadingTally, RowProblem, open_manifest
from batch_uploader.prepare import measure_row, plan_row
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


def validate_manifest(
    manifest_path: Path,
    rules: RowRules,
    *,
    on_check: Callable[[RowCheck], None] = lambda check: None,
) -> ValidationSummary:
    """Check every row of the manifest as `run` would before sending it.

    Remembers each (submissionId, image field) pair to warn about duplicates, so its memory
    grows with the manifest, unlike `run`.
    """
    first_row_of: dict[tuple[str, str], int] = {}
    rows = invalid = warnings = 0
    tally = ReadingTally()
    with open_manifest(manifest_path, tally) as manifest:
        for row in manifest:
            check = _check_row(row, rules, manifest_path.parent, first_row_of)
            rows += 1
            invalid += check.problem is not None
            warnings += len(check.warnings)
            on_check(check)
    return ValidationSummary(
        rows=rows, invalid=invalid, warnings=warnings, blank_rows=tally.blank_rows
    )


def _check_row(
    row: ManifestRow,
    rules: RowRules,
    manifest_dir: Path,
    first_row_of: dict[tuple[str, str], int],
) -> RowCheck:
    problem: RowProblem | None = None
    try:
        measure_row(plan_row(row, rules, manifest_dir=manifest_dir), rules)
    except InvalidRowError as rejection:
        problem = RowProblem(rejection.code, rejection.message)
    warnings: list[str] = []
    id_type = undocumented_id_type(row.values)
    if id_type is not None:
        warnings.append(
            f"idType {id_type!r} is not in the vendor's documented list; it may be refused"
        )
    if row.submission_id:
        for field in row.image_fields:
            earlier = first_row_of.setdefault((row.submission_id, field), row.row)
            if earlier != row.row:
                warnings.append(
                    f"{field} of {row.submission_id} is also set in row {earlier}; "
                    "the later upload replaces the earlier one"
                )
    return RowCheck(
        row=row.row,
        line=row.line,
        submission_id=row.submission_id,
        problem=problem,
        warnings=tuple(warnings),
    )
