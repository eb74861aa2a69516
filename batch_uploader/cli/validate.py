"""`batch-uploader validate`: check a manifest and its files, send nothing."""

from __future__ import annotations

from pathlib import Path

import click

from batch_uploader.cli.exit_codes import EXIT_OK, EXIT_ROWS_FAILED
from batch_uploader.cli.options import (
    admin_option,
    base_dir_option,
    manifest_argument,
    max_request_bytes_option,
    settable_from_environment,
)
from batch_uploader.settings import RowRules
from batch_uploader.validate import RowCheck, validate_manifest


@settable_from_environment
@click.command()
@manifest_argument
@admin_option
@base_dir_option
@max_request_bytes_option
def validate(
    manifest: Path, admin: str | None, base_dir: Path | None, max_request_bytes: int
) -> None:
    """Check MANIFEST and every image file it names; send nothing.

    Lists invalid rows and warnings (idType outside the documented list, the same
    submission and image field in two rows). Exit status: 0 every row valid, 1 otherwise,
    2 when the manifest cannot be read at all.
    """
    rules = RowRules(admin=admin, base_dir=base_dir, max_request_bytes=max_request_bytes)
    summary = validate_manifest(manifest, rules, on_check=_print_check)
    valid = summary.rows - summary.invalid
    blank = f" ({summary.blank_rows} blank rows skipped)" if summary.blank_rows else ""
    click.echo(
        f"{summary.rows} rows: {valid} valid, {summary.invalid} invalid, "
        f"{summary.warnings} warnings{blank}"
    )
    raise click.exceptions.Exit(EXIT_OK if summary.all_valid else EXIT_ROWS_FAILED)


def _print_check(check: RowCheck) -> None:
    where = f"row {check.row} (line {check.line}, {check.submission_id or 'no submissionId'})"
    if check.problem is not None:
        click.echo(f"{where}: invalid {check.problem.code}: {check.problem.message}")
    for warning in check.warnings:
        click.echo(f"{where}: warning: {warning}")
