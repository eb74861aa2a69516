"""`batch-uploader run`: options to settings, the upload, its summary and exit code."""

from __future__ import annotations

import io
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from batch_uploader.api import API_KEY_ENV, DEFAULT_BASE_URL
from batch_uploader.cli.api_key import read_api_key
from batch_uploader.cli.exit_codes import EXIT_CONFIGURATION, exit_code
from batch_uploader.cli.open_files import fit_concurrency
from batch_uploader.cli.options import (
    admin_option,
    base_dir_option,
    max_request_bytes_option,
    quiet_option,
    settable_from_environment,
)
from batch_uploader.cli.output import LOG_FORMATS, configure_logging
from batch_uploader.cli.progress import Progress
from batch_uploader.cli.runtime import run_with_signals_and_progress
from batch_uploader.cli.summary import stop_message, summary_fields, summary_text
from batch_uploader.engine import upload_manifest
from batch_uploader.errors import BatchUploaderError, ConfigurationError
from batch_uploader.manifest import MANIFEST_FORMATS, ManifestStream
from batch_uploader.proxies import redacted
from batch_uploader.report import default_report_path
from batch_uploader.report_file import same_file
from batch_uploader.settings import QuotaPolicy, RetryPolicy, RowRules, RunSettings
from batch_uploader.sharding import Shard

if TYPE_CHECKING:
    from batch_uploader.cli.metrics_output import MetricsPublisher

# Options whose URL may carry a user and password: the printed resume command hides it.
URLS_WITH_CREDENTIALS = frozenset({"proxy", "pushgateway"})

logger = logging.getLogger("batch_uploader")


@settable_from_environment
@click.command()
@click.argument(
    "manifest", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), metavar="MANIFEST"
)
@click.option(
    "--format",
    "manifest_format",
    type=click.Choice(MANIFEST_FORMATS),
    help="The format of a manifest on standard input (MANIFEST is -).  [default: csv]",
)
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
    help="API address; http:// only for a loopback host.",
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
@click.option(
    "--on-quota",
    type=click.Choice([policy.value for policy in QuotaPolicy]),
    default=QuotaPolicy.STOP.value,
    show_default=True,
    help="When the key's quota is spent (429 Limit Exceeded): stop (exit 4), or wait for "
    "it, probing with one request every --quota-probe-interval seconds.",
)
@click.option(
    "--quota-probe-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    metavar="S",
    help="With --on-quota wait: seconds between the requests that check the quota is back.",
)
@click.option(
    "--max-outage",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    metavar="S",
    help="Stop (exit 5) when the API has not answered for S seconds; also caps Retry-After.",
)
@click.option(
    "--proxy",
    metavar="URL",
    help="Send requests through this proxy (http://[user:password@]host:port); NO_PROXY "
    "still applies. Without it, HTTPS_PROXY / HTTP_PROXY are used.",
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Also trust the certificate authorities in this PEM file (a TLS-inspecting proxy).",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the run's metrics here in the Prometheus text format, replaced atomically "
    "every 10 s and at the end (node_exporter's textfile collector: name it *.prom).",
)
@click.option(
    "--pushgateway",
    metavar="URL",
    help="Also push the metrics to this Prometheus Pushgateway every 10 s and at the end, "
    "grouped by --pushgateway-job, the report's name and the shard.",
)
@click.option(
    "--pushgateway-job",
    default="batch-uploader",
    show_default=True,
    metavar="NAME",
    help="The job name the metrics are pushed under.",
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
    manifest_format: str | None,
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
    on_quota: str,
    quota_probe_interval: float,
    max_outage: float,
    proxy: str | None,
    ca_bundle: Path | None,
    metrics_file: Path | None,
    pushgateway: str | None,
    pushgateway_job: str,
    quiet: bool,
    log_format: str,
) -> None:
    """Upload every row of MANIFEST and write a report line per row.

    MANIFEST is a .csv, .yaml or .yml file, or - for standard input (see --format).

    The API key comes from ARGOS_API_KEY or --api-key-file. Exit status: 0 every row ok,
    1 some rows failed or invalid, 2 usage or configuration error (nothing sent),
    3 stopped by a refused key/project or --max-failures, 4 --max-requests or the key's
    quota spent, 5 the API failing past --max-outage or unreachable (TLS, DNS),
    130/143 stopped by SIGINT/SIGTERM.
    """
    configure_logging(log_format)
    settings = RunSettings(
        api_key=read_api_key(api_key_file),
        base_url=base_url,
        rules=RowRules(admin=admin, base_dir=base_dir, max_request_bytes=max_request_bytes),
        report_path=report_path,
        overwrite=overwrite,
        resume=resume,
        concurrency=fit_concurrency(concurrency),
        timeout=timeout,
        retry=RetryPolicy(max_attempts=max_attempts),
        rate=rate,
        max_failures=max_failures,
        max_requests=max_requests,
        shard=Shard.parse(shard) if shard else None,
        on_quota=QuotaPolicy(on_quota),
        quota_probe_interval=quota_probe_interval,
        max_outage=max_outage,
        ca_bundle=ca_bundle,
        proxy=proxy,
    )
    source = _manifest_source(manifest, manifest_format, resume=resume)
    report = settings.report_path or default_report_path(source)
    _refuse_report_on_key_file(report, api_key_file)
    metrics = _metrics_publisher(
        metrics_file, pushgateway, pushgateway_job, report=report, shard=settings.shard
    )
    progress = Progress.for_stream(sys.stderr, quiet=quiet, plain=log_format == "json")
    try:
        summary = run_with_signals_and_progress(
            source,
            progress,
            lambda observer, control: upload_manifest(
                source, settings, observer=observer, control=control
            ),
            shard=settings.shard,
            metrics=metrics,
        )
    except BatchUploaderError:
        if metrics is not None:
            metrics.end(EXIT_CONFIGURATION)
        raise
    if metrics is not None:
        metrics.end(exit_code(summary), all_ok=summary.all_ok)
    stop = stop_message(summary, settings)
    resume_command = None if summary.all_ok else _resume_command(ctx, summary.report_path)
    if resume_command is not None and isinstance(source, ManifestStream):
        resume_command = "save the manifest to a file FILE, then: " + resume_command.replace(
            " run - ", " run FILE ", 1
        )
    if log_format == "json":
        fields = summary_fields(summary, stop=stop, resume_command=resume_command)
        logger.info("summary", extra={"fields": fields})
    else:
        click.echo(summary_text(summary, stop=stop, resume_command=resume_command), err=True)
    raise click.exceptions.Exit(exit_code(summary))


def _manifest_source(
    manifest: Path, manifest_format: str | None, *, resume: bool
) -> Path | ManifestStream:
    if str(manifest) != "-":
        if manifest_format is not None:
            raise ConfigurationError(
                "--format is for a manifest on standard input (-); a file's name says its format"
            )
        return manifest
    if resume:
        raise ConfigurationError(
            "--resume needs the manifest in a file: standard input cannot be read a second "
            "time; save it to a file and pass that"
        )
    stdin = io.TextIOWrapper(
        sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    return ManifestStream(file=stdin, format=manifest_format or "csv", folder=Path.cwd())


def _metrics_publisher(
    metrics_file: Path | None,
    pushgateway: str | None,
    job: str,
    *,
    report: Path,
    shard: Shard | None,
) -> MetricsPublisher | None:
    if metrics_file is None and pushgateway is None:
        return None
    # prometheus_client is imported only by a run that writes metrics (60 ms).
    from batch_uploader.cli.metrics_output import (  # noqa: PLC0415
        MetricsPublisher,
        MetricsTargets,
    )

    if metrics_file is not None and same_file(metrics_file, report):
        raise ConfigurationError(
            f"--metrics-file {metrics_file} is the report; name another file for the metrics"
        )
    targets = MetricsTargets(file=metrics_file, pushgateway=pushgateway, job=job)
    publisher = MetricsPublisher(targets, report=report, shard=shard)
    publisher.check_file()
    return publisher


def _refuse_report_on_key_file(report: Path, api_key_file: Path | None) -> None:
    if api_key_file is not None and same_file(report, api_key_file):
        raise ConfigurationError(
            f"--report {report} is the API key file; name another file for the report"
        )


def _resume_command(ctx: click.Context, report_path: Path) -> str:
    """The command that continues this run: its own options, the report, and --resume."""
    words = ["batch-uploader", "run", str(ctx.params["manifest"])]
    for param in ctx.command.params:
        name = param.name or ""
        if (
            not isinstance(param, click.Option)
            or name in {"report_path", "resume", "overwrite", "manifest_format"}
            or ctx.get_parameter_source(name) is not click.core.ParameterSource.COMMANDLINE
        ):
            continue
        value = ctx.params[name]
        text = f"{value:g}" if isinstance(value, float) else str(value)
        if name in URLS_WITH_CREDENTIALS:
            text = redacted(text)  # the password stays out of the output; type it again
        words += [param.opts[0]] if param.is_flag else [param.opts[0], text]
    words += ["--report", str(report_path), "--resume"]
    return shlex.join(words)
