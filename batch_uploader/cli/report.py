"""`batch-uploader report ...`: a run's reports summed up, merged, and turned into a manifest
of the rows to fix."""

from __future__ import annotations

import json
from pathlib import Path

import click

from batch_uploader.cli.options import base_dir_option
from batch_uploader.cli.output import duration_text
from batch_uploader.report_failed import write_failed_rows
from batch_uploader.report_merge import merge_reports
from batch_uploader.report_summary import ReportsSummary, summarize_reports

reports_argument = click.argument(
    "reports",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="REPORT...",
)
output_option = click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write.",
)
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing file.")


@click.group()
def report() -> None:
    """Summarize, merge, or pick the failed rows from run reports."""


@report.command()
@reports_argument
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for machines.")
def summary(reports: tuple[Path, ...], as_json: bool) -> None:
    """Rows by status, the most frequent errorCodes, requests and time span of REPORT...

    Several reports (a migration's shards) are read as one; a row's later line replaces
    its earlier one.
    """
    result = summarize_reports(reports)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(summary_text(result))


@report.command()
@reports_argument
@output_option
@overwrite_option
def merge(reports: tuple[Path, ...], output: Path, overwrite: bool) -> None:
    """Merge shard reports into one, in row order (.jsonl output gives JSON Lines).

    Refuses reports that share a row: the same shard twice, or reports of different
    manifests. Nothing is written then.
    """
    result = merge_reports(reports, output, overwrite=overwrite)
    span = "no rows"
    if result.first_row is not None:
        span = f"rows {result.first_row:,} to {result.last_row:,}"
    missing = result.missing_rows
    gap = (
        "none missing"
        if not missing
        else f"{missing:,} row numbers missing: is a shard's report left out?"
    )
    click.echo(
        f"Merged {result.reports} reports into {output}: {result.rows:,} rows, {span}, {gap}"
        + _and_unreadable(result.unreadable_lines),
        err=True,
    )


@report.command()
@click.argument("report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="REPORT")
@click.option(
    "--manifest",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manifest the run used.",
)
@output_option
@base_dir_option
@overwrite_option
def failed(
    report_path: Path, manifest: Path, output: Path, base_dir: Path | None, overwrite: bool
) -> None:
    """Write the manifest rows whose latest line in REPORT is failed or invalid to a CSV
    manifest, to fix and run again.

    Image paths are rewritten to lead to the same files from the new manifest's folder;
    with --base-dir (the run's) they are kept as they are.
    """
    result = write_failed_rows(
        report_path, manifest, output, base_dir=base_dir, overwrite=overwrite
    )
    codes = ", ".join(
        f"{code or 'no errorCode'} {rows}" for code, rows in result.by_error_code.most_common()
    )
    reasons = f" ({codes})" if codes else ""
    click.echo(
        f"Wrote {result.rows:,} rows to fix to {output}{reasons}"
        + _and_unreadable(result.unreadable_lines),
        err=True,
    )


def summary_text(result: ReportsSummary) -> str:
    """The summary as a person reads it."""
    names = ", ".join(str(path) for path in result.reports)
    lines = [f"{names}: {result.rows:,} rows"]
    lines += [
        f"  {status.value:<10} {count:>10,}" for status, count in result.rows_by_status.items()
    ]
    if result.error_codes:
        lines.append("Most frequent errorCodes (rows; an example):")
        for tally in result.error_codes:
            example = tally.example
            lines.append(
                f"  {tally.error_code:<24} {tally.rows:>8,}  row {example.row} "
                f"({example.submission_id}): {_one_line(example.message)}"
            )
    lines.append(f"Requests: {result.requests:,}")
    if result.first_finished_at is not None and result.span_seconds is not None:
        lines.append(
            f"Finished from {result.first_finished_at} to {result.last_finished_at} "
            f"({duration_text(result.span_seconds)})"
        )
    if result.rows_with_several_lines:
        lines.append(
            f"{result.rows_with_several_lines:,} rows have more than one line; "
            "the latest of each counts"
        )
    if result.unreadable_lines:
        lines.append(_unreadable(result.unreadable_lines))
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _unreadable(lines: int) -> str:
    return f"{lines:,} lines left out: their row number or status is not one a report holds"


def _and_unreadable(lines: int) -> str:
    """`_unreadable` as the end of a sentence, when any line was left out."""
    return f"; {_unreadable(lines)}" if lines else ""
