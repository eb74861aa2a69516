"""The `batch-uploader` command: options, output and exit codes; the work is in the library."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from batch_uploader.demo import DEMO_PROCESSING_ERROR_RATE, example_manifest, run_demo
from batch_uploader.engine import upload_manifest
from batch_uploader.errors import BatchUploaderError, ConfigurationError, MissingApiKeyError
from batch_uploader.mock_cli import mock_server
from batch_uploader.mock_server import RunningMockServer
from batch_uploader.models import StopReason
from batch_uploader.output import (
    LOG_FORMATS,
    configure_logging,
    stop_message,
    summary_fields,
    summary_text,
)
from batch_uploader.progress import Progress
from batch_uploader.settings import (
    API_KEY_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_REQUEST_BYTES,
    RetryPolicy,
    RowRules,
    RunSettings,
)
from batch_uploader.sharding import Shard
from batch_uploader.stats import RunSummary
from batch_uploader.terminal import run_on_fast_loop, watched
from batch_uploader.validate import RowCheck, validate_manifest

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_CONFIGURATION = 2
EXIT_STOPPED = 3
EXIT_BUDGET_SPENT = 4
STOP_EXIT_CODES = {
    StopReason.CREDENTIALS_REFUSED: EXIT_STOPPED,
    StopReason.MAX_FAILURES: EXIT_STOPPED,
    StopReason.MAX_REQUESTS: EXIT_BUDGET_SPENT,
    StopReason.INTERRUPTED: 130,
    StopReason.TERMINATED: 143,
}

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
    configure_logging()


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
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="R",
    help="At most R requests per second across the run, retries included.  [default: none]",
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
@click.option(
    "--max-failures",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop the run once N rows have failed (exit 3).",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=0),
    metavar="N",
    help="Stop before the (N+1)th HTTP request (exit 4): a budget for the daily quota.",
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
    "--resume",
    is_flag=True,
    help="Continue from the existing report: rows ok there are not sent again.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
@click.option(
    "--shard",
    metavar="K/N",
    help="Take only shard K of N (by a stable hash of submissionId), for N machines.",
)
@quiet_option
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="json makes every log line, and the summary, a JSON object.",
)
@click.pass_context
def run(
    ctx: click.Context,
    *,
    manifest: Path,
    report_path: Path | None,
    concurrency: int,
    rate: float | None,
    timeout: float,
    max_attempts: int,
    max_failures: int | None,
    max_requests: int | None,
    max_request_bytes: int,
    base_url: str,
    admin: str | None,
    api_key_file: Path | None,
    base_dir: Path | None,
    resume: bool,
    overwrite: bool,
    shard: str | None,
    quiet: bool,
    log_format: str,
) -> None:
    """Upload every row of MANIFEST and write a report line per row.

    The API key comes from ARGOS_API_KEY or --api-key-file. Exit status: 0 every row ok,
    1 some rows failed or invalid, 2 usage or configuration error (nothing sent),
    3 stopped by a refused key/project or --max-failures, 4 --max-requests spent,
    130/143 stopped by SIGINT/SIGTERM.
    """
    configure_logging(log_format)
    settings = RunSettings(
        api_key=_read_api_key(api_key_file),
        base_url=base_url,
        rules=RowRules(admin=admin, base_dir=base_dir, max_request_bytes=max_request_bytes),
        report_path=report_path,
        overwrite=overwrite,
        resume=resume,
        concurrency=concurrency,
        timeout=timeout,
        retry=RetryPolicy(max_attempts=max_attempts),
        rate=rate,
        max_failures=max_failures,
        max_requests=max_requests,
        shard=Shard.parse(shard) if shard else None,
    )
    progress = Progress.for_stream(sys.stderr, quiet=quiet, plain=log_format == "json")
    summary = run_on_fast_loop(
        watched(
            manifest,
            progress,
            lambda observer, control: upload_manifest(
                manifest, settings, observer=observer, control=control
            ),
        )
    )
    stop = None
    if summary.stop_reason is not None:
        stop = stop_message(
            summary.stop_reason, max_failures=max_failures, max_requests=max_requests
        )
    resume_command = None if summary.all_ok else _resume_command(ctx, summary.report_path)
    if log_format == "json":
        fields = summary_fields(summary, stop=stop, resume_command=resume_command)
        logger.info("summary", extra={"fields": fields})
    else:
        click.echo(summary_text(summary, stop=stop, resume_command=resume_command), err=True)
    raise click.exceptions.Exit(_exit_code(summary))


def _exit_code(summary: RunSummary) -> int:
    if summary.stop_reason is not None:
        return STOP_EXIT_CODES[summary.stop_reason]
    return EXIT_OK if summary.all_ok else EXIT_ROWS_FAILED


def _resume_command(ctx: click.Context, report_path: Path) -> str:
    """The command that continues this run: its own options, the report, and --resume."""
    words = ["batch-uploader", "run", str(ctx.params["manifest"])]
    for param in ctx.command.params:
        name = param.name or ""
        if (
            not isinstance(param, click.Option)
            or name in {"report_path", "resume", "overwrite"}
            or ctx.get_parameter_source(name) is not click.core.ParameterSource.COMMANDLINE
        ):
            continue
        value = ctx.params[name]
        words += [param.opts[0]] if param.is_flag else [param.opts[0], str(value)]
    words += ["--report", str(report_path), "--resume"]
    return shlex.join(words)


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

    summary = run_on_fast_loop(
        watched(
            example_manifest(),
            progress,
            lambda observer, control: run_demo(
                report_path=report_path, observer=observer, control=control, on_server=announce
            ),
        )
    )
    click.echo(summary_text(summary, stop=None, resume_command=None), err=True)
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
