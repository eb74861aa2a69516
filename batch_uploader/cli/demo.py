"""`batch-uploader demo`: the example manifest uploaded to an in-process mock server."""

from __future__ import annotations

import logging
import secrets
import sys
import tempfile
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import click

from batch_uploader.cli.exit_codes import EXIT_OK, EXIT_ROWS_FAILED
from batch_uploader.cli.options import quiet_option
from batch_uploader.cli.progress import Progress
from batch_uploader.cli.runtime import run_with_signals_and_progress
from batch_uploader.cli.summary import summary_text
from batch_uploader.control import RunControl
from batch_uploader.engine import upload_manifest
from batch_uploader.events import RunObserver
from batch_uploader.mock.faults import Fault, random_faults
from batch_uploader.mock.server import MockConfig, RunningMockServer, running_mock_server
from batch_uploader.settings import RunSettings
from batch_uploader.stats import RunSummary

logger = logging.getLogger("batch_uploader")

DEMO_PROCESSING_ERROR_RATE = 0.2
# With this seed the example manifest meets a few processing_errors, so the demo shows
# retries, and every row still ends ok (tests/test_end_to_end.py holds it to that).
DEMO_SEED = 2
DEMO_LATENCY_SECONDS = 0.05


def example_manifest() -> Path:
    """The example CSV manifest that ships with the package (from manifests/)."""
    return Path(str(files("batch_uploader.examples") / "example.csv"))


async def run_demo(
    *,
    report_path: Path,
    observer: RunObserver | None = None,
    control: RunControl | None = None,
    on_server: Callable[[RunningMockServer], None] = lambda server: None,
) -> RunSummary:
    """Upload the example manifest to a mock server on a free loopback port."""
    api_key = secrets.token_urlsafe(24)
    config = MockConfig(
        api_key=api_key,
        faults=random_faults({Fault.PROCESSING_ERROR: DEMO_PROCESSING_ERROR_RATE}, seed=DEMO_SEED),
        latency_seconds=DEMO_LATENCY_SECONDS,
    )
    async with running_mock_server(config) as server:
        on_server(server)
        settings = RunSettings(api_key=api_key, base_url=server.url, report_path=report_path)
        return await upload_manifest(
            example_manifest(), settings, observer=observer, control=control
        )


@click.command()
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

    summary = run_with_signals_and_progress(
        example_manifest(),
        progress,
        lambda observer, control: run_demo(
            report_path=report_path, observer=observer, control=control, on_server=announce
        ),
    )
    click.echo(summary_text(summary, stop=None, resume_command=None), err=True)
    raise click.exceptions.Exit(EXIT_OK if summary.all_ok else EXIT_ROWS_FAILED)
