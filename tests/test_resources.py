"""Resource bounds: connections stay within --concurrency, no file descriptor leaks.

The 100,000-row leak check is part of the soak run: `pytest -m soak`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_uploader import (
    RowResult,
    RunObserver,
    upload_manifest,
)

from .fakes import FakeClient, VirtualClock
from .processes import MockServerProcess
from .support import ImageMaker, run_settings, write_csv_manifest

FD_FOLDER = Path("/proc/self/fd")
# asyncio's self-pipe is a socket pair; a little room for a connection being replaced.
SOCKET_ALLOWANCE = 4

pytestmark = pytest.mark.skipif(not FD_FOLDER.exists(), reason="needs /proc")


def open_descriptors() -> list[str]:
    targets = []
    for entry in FD_FOLDER.iterdir():
        try:
            targets.append(str(entry.readlink()))
        except FileNotFoundError:  # the descriptor listdir itself used
            continue
    return targets


class DescriptorSampler(RunObserver):
    """Counts this process's open sockets and files every `every` finished rows."""

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.finished = 0
        self.peak_sockets = 0
        self.peak_descriptors = 0

    def on_row_finished(self, result: RowResult) -> None:
        self.finished += 1
        if self.finished % self.every:
            return
        targets = open_descriptors()
        self.peak_descriptors = max(self.peak_descriptors, len(targets))
        sockets = sum(target.startswith("socket:") for target in targets)
        self.peak_sockets = max(self.peak_sockets, sockets)


def write_manifest(tmp_path: Path, make_image: ImageMaker, rows: int) -> Path:
    for number in range(20):
        make_image(f"img/{number}.png", size=800)
    return write_csv_manifest(
        tmp_path / "m.csv", ((f"sub-{n}", f"img/{n % 20}.png") for n in range(rows))
    )


@pytest.fixture
def dropping_server() -> Iterator[MockServerProcess]:
    server = MockServerProcess("--latency-ms", "2", "--drop-rate", "0.03", "--seed", "4")
    yield server
    server.stop()


@pytest.mark.slow  # a mock server in a child process
async def test_connections_stay_within_concurrency(
    tmp_path: Path, make_image: ImageMaker, dropping_server: MockServerProcess
) -> None:
    manifest = write_manifest(tmp_path, make_image, 1500)
    sampler = DescriptorSampler()
    baseline = sum(target.startswith("socket:") for target in open_descriptors())
    settings = run_settings(tmp_path / "r.csv", base_url=dropping_server.url, concurrency=8)
    summary = await upload_manifest(manifest, settings, observer=sampler)
    assert summary.all_ok
    assert sampler.peak_sockets - baseline <= 8 + SOCKET_ALLOWANCE


@pytest.mark.soak
async def test_no_descriptor_leaks_across_100000_rows(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    rows = int(os.environ.get("FD_ROWS", "100000"))
    manifest = write_manifest(tmp_path, make_image, rows)
    before = len(open_descriptors())
    sampler = DescriptorSampler(every=97)
    settings = run_settings(tmp_path / "r.csv", concurrency=16)
    summary = await upload_manifest(
        manifest, settings, client=FakeClient(VirtualClock()), observer=sampler
    )
    assert summary.rows == rows
    assert summary.all_ok
    assert len(open_descriptors()) == before
    # Each worker holds at most one image open; plus manifest, report and thread pool.
    assert sampler.peak_descriptors - before <= 16 + 8
