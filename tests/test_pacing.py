"""--rate: request starts evenly spaced across the run, at any concurrency, retries included."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from batch_uploader import upload_manifest
from batch_uploader.pacing import RequestPacer

from .fakes import OK, PROCESSING_ERROR, FakeClient, VirtualClock
from .support import ImageMaker, run_settings, write_csv_manifest


async def test_concurrent_callers_start_one_interval_apart() -> None:
    clock = VirtualClock()
    pacer = RequestPacer(20, clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def caller() -> None:
        for _ in range(5):
            await pacer.wait_turn()
            starts.append(clock())

    await clock.run(asyncio.gather(*(caller() for _ in range(8))))
    assert len(starts) == 40
    assert starts == sorted(starts)
    assert starts[0] == 0.0
    assert starts[-1] == pytest.approx(39 / 20)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) == pytest.approx(0.05)


async def test_an_idle_pacer_does_not_bank_a_burst() -> None:
    clock = VirtualClock()
    pacer = RequestPacer(10, clock=clock, sleep=clock.sleep)
    await clock.run(pacer.wait_turn())
    clock.now = 100.0
    await clock.run(pacer.wait_turn())
    await clock.run(pacer.wait_turn())
    assert clock() == pytest.approx(100.1)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RequestPacer(0, clock=VirtualClock())


@pytest.mark.parametrize("concurrency", [1, 8, 32])
async def test_run_rate_holds_under_any_concurrency_with_retries(
    tmp_path: Path, make_image: ImageMaker, concurrency: int
) -> None:
    make_image("s.png", size=200)
    manifest = write_csv_manifest(tmp_path / "m.csv", ((f"sub-{n}", "s.png") for n in range(100)))
    clock = VirtualClock()
    # Every fifth row needs a second attempt: retries must take their turn too.
    client = FakeClient(
        clock,
        lambda submission, attempt: (
            PROCESSING_ERROR if attempt == 1 and submission.endswith(("0", "5")) else OK
        ),
    )
    settings = run_settings(tmp_path / "r.csv", concurrency=concurrency, rate=20)
    summary = await clock.run(
        upload_manifest(manifest, settings, client=client, clock=clock, sleep=clock.sleep)
    )
    assert summary.all_ok
    starts = client.starts
    assert len(starts) == 120
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= 0.05 - 1e-9
    # 119 intervals of 1/20 s: the limit is reached, not just respected.
    assert starts[-1] - starts[0] == pytest.approx(119 / 20)
