"""The `batch-uploader` command: options, output and exit codes; the work is in the library."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from batch_uploader.demo import DEMO_PROCESSING_ERROR_RATE, example_manifest, run_demo
from batch_uploader.engine import RunObserver, upload_manifest
from batch_uploader.errors import BatchUploaderError, ConfigurationError, MissingApiKeyError
from batch_uploader.manifest import count_rows
from batch_uploader.mock_cli import mock_server
from batch_uploader.mock_server import RunningMockServer
from batch_uploader.progress import LoggingObserver, Observers, Progress
from batch_uploader.settings import (
    API_KEY_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_REQUEST_BYTES,
    RetryPolicy,
    RowRules,
    RunSettings,
)
from batch_uploader.stats import RunSummary
from batch_uploader.validate import RowCheck, validate_manifest

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_CONFIGURATION = 2

logger = logging.getLogger("batch_uploader")


class _Commands(click.Group):
    """The one place where a known error becomes a message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BatchUploaderError as error:
            click.echo(f"batch-uploader: error: {error}", err=True)
            ctx.exit(EXIT_CONFIGURATION)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batch-uploader")
def cli() -> None:
    """Bulk-upload identity-document images to the Argos Identity API from a manifest."""
    _configure_logging()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="batch-uploader")


cli.add_command(mock_server)

manifest_argument = click.argument(
    "manifest", type=click.Path(dir_okay=False, path_type=Path), metavar="MANIFEST"
)
admin_option = click.option(
    "--admin",
    envvar="ARGOS_ADMIN",
    metavar="EMAIL",
    help="Admin account for rows that set none (env ARGOS_ADMIN).",
)
base_dir_option = click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Resolve image paths against DIR and refuse any that lead outside it.",
)
quiet_option = click.option(
    "--quiet", is_flag=True, help="No progress bar or progress lines; problems are still logged."
)
max_request_bytes_option = click.option(
    "--max-request-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_REQUEST_BYTES,
    show_default=True,
    metavar="N",
    help="Mark rows whose request would be larger as invalid (the gateway's limit).",
)


@cli.command()
@manifest_argument
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report file; .jsonl gives JSON Lines. Default: <manifest stem>.report.csv here.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    metavar="N",
    help="Requests in flight at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Seconds one attempt may take before it counts as failed and is retried.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    metavar="N",
    help="Attempts per row, the first included.",
)
@max_request_bytes_option
@click.option(
    "--base-url",
    envvar="ARGOS_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    metavar="URL",
    help="API address (env ARGOS_BASE_URL); http:// only for a loopback host.",
)
@admin_option
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Read the API key from the first line of this file (else env {API_KEY_ENV}).",
)
@base_dir_option
@click.option(
    "--resume", is_flag=True, help="Continue from an existing report (not available yet)."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
@quiet_option
def run(
    *,
    manifest: Path,
    report_path: Path | None,
    concurrency: int,
    timeout: float,
    max_attempts: int,
    max_request_bytes: int,
    base_url: str,
    admin: str | None,
    api_key_file: Path | None,
    base_dir: Path | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Upload every row of MANIFEST and write a report line per row.

    The API key comes from ARGOS_API_KEY or --api-key-file. Exit status: 0 every row ok,
    1 some rows failed or invalid, 2 usage or configuration error (nothing sent).
    """
    if resume:
        raise ConfigurationError(
            "--resume is not available in this version yet; use --overwrite to start over "
            "or --report to write a new report"
        )
    settings = RunSettings(
        api_key=_read_api_key(api_key_file),
        base_url=base_url,
        rules=RowRules(admin=admin, base_dir=base_dir, max_request_bytes=max_request_bytes),
        report_path=report_path,
        overwrite=overwrite,
        concurrency=concurrency,
        timeout=timeout,
        retry=RetryPolicy(max_attempts=max_attempts),
    )
    progress = Progress.for_stream(sys.stderr, quiet=quiet)
    summary = asyncio.run(
        _watched(
            manifest,
            progress,
            lambda observer: upload_manifest(manifest, settings, observer=observer),
        )
    )
    _print_summary(summary)
    raise click.exceptions.Exit(EXIT_OK if summary.all_ok else EXIT_ROWS_FAILED)


async def _watched(
    manifest: Path,
    progress: Progress,
    upload: Callable[[RunObserver], Awaitable[RunSummary]],
) -> RunSummary:
    """Run `upload` with problems logged and progress shown; count the rows meanwhile."""

    async def count() -> None:
        # The upload reports the same problem if the manifest cannot be read.
        with contextlib.suppress(BatchUploaderError):
            progress.set_total(await asyncio.to_thread(count_rows, manifest))

    background = [asyncio.create_task(progress.print_lines()), asyncio.create_task(count())]
    try:
        with progress.showing():
            return await upload(Observers(LoggingObserver(), progress))
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


@cli.command()
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
    click.echo(
        f"{summary.rows} rows: {valid} valid, {summary.invalid} invalid, "
        f"{summary.warnings} warnings"
    )
    raise click.exceptions.Exit(EXIT_OK if summary.all_valid else EXIT_ROWS_FAILED)


@cli.command()
@quiet_option
def demo(*, quiet: bool) -> None:
    """Upload the bundled example manifest to an in-process mock server.

    No API key or configuration needed: the mock server starts on a free loopback port
    and fails some requests with processing_error, so the retries show.
    """
    report_path = Path(tempfile.mkdtemp(prefix="batch-uploader-demo-")) / "example.report.csv"
    progress = Progress.for_stream(sys.stderr, quiet=quiet)

    def announce(server: RunningMockServer) -> None:
        logger.info(
            "demo: mock Argos server on %s, answering %.0f%% of requests with processing_error",
            server.url,
            DEMO_PROCESSING_ERROR_RATE * 100,
        )

    summary = asyncio.run(
        _watched(
            example_manifest(),
            progress,
            lambda observer: run_demo(
                report_path=report_path, observer=observer, on_server=announce
            ),
        )
    )
    _print_summary(summary)
    raise click.exceptions.Exit(EXIT_OK if summary.all_ok else EXIT_ROWS_FAILED)


def _read_api_key(api_key_file: Path | None) -> str:
    if api_key_file is not None:
        try:
            lines = api_key_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(
                f"cannot read the API key file {api_key_file}: {error}"
            ) from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise MissingApiKeyError(f"the API key file {api_key_file} has an empty first line")
        return key
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingApiKeyError(
            f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH (the key is never "
            "taken on the command line)"
        )
    return key


def _print_check(check: RowCheck) -> None:
    where = f"row {check.row} (line {check.line}, {check.submission_id or 'no submissionId'})"
    if check.problem is not None:
        click.echo(f"{where}: invalid {check.problem.code}: {check.problem.message}")
    for warning in check.warnings:
        click.echo(f"{where}: warning: {warning}")


def _print_summary(summary: RunSummary) -> None:
    counts = ", ".join(
        f"{count} {status.value}" for status, count in summary.rows_by_status.items()
    )
    latency = "no requests"
    if summary.latency_p50_ms is not None and summary.latency_p95_ms is not None:
        latency = (
            f"latency p50 {summary.latency_p50_ms:.0f} ms, p95 {summary.latency_p95_ms:.0f} ms"
        )
    click.echo(
        f"Done in {summary.elapsed_seconds:.1f} s: {summary.rows} rows: {counts}\n"
        f"Requests: {summary.requests} ({summary.retries} retries), "
        f"{summary.rows_per_second:.1f} rows/s, {latency}\n"
        f"Report: {summary.report_path}",
        err=True,
    )


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
