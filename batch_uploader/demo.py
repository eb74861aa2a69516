"""The embedded demo: the example manifest uploaded to an in-process mock server."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from batch_uploader.control import RunControl
from batch_uploader.engine import RunObserver, upload_manifest
from batch_uploader.mock_server import (
    Fault,
    MockConfig,
    RunningMockServer,
    random_faults,
    running_mock_server,
)
from batch_uploader.settings import RunSettings
from batch_uploader.stats import RunSummary

DEMO_PROCESSING_ERROR_RATE = 0.2
# With this seed the example manifest meets a few processing_errors, so the demo shows
# retries, and every row still ends ok (tests/test_demo.py holds it to that).
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
