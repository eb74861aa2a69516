"""Rows read ahead of the workers: the buffer's bounds and wake-ups, and what a run does
with the rows it holds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from batch_uploader.client import Answer
from batch_uploader.engine import (
    READ_AHEAD_BATCH,
    READ_AHEAD_BYTES,
    READ_AHEAD_ROWS,
    upload_manifest,
)
from batch_uploader.images import base64_length
from batch_uploader.multipart import FormFields
from batch_uploader.prepare import load_row
from batch_uploader.read_ahead import ReadAhead
from batch_uploader.results import Status, StopReason

from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, report_lines, run_settings, write_csv_manifest


def test_items_come_out_in_the_order_they_went_in() -> None:
    buffer: ReadAhead[str] = ReadAhead(max_items=4, max_bytes=100)
    assert buffer.take() is None
    buffer.add("first", 1)
    buffer.add("second", 1)
    assert [buffer.take(), buffer.take(), buffer.take()] == ["first", "second", None]


def test_the_buffer_is_full_at_its_count_or_its_bytes() -> None:
    by_count: ReadAhead[int] = ReadAhead(max_items=2, max_bytes=100)
    by_count.add(1, 1)
    assert not by_count.full
    by_count.add(2, 1)
    assert by_count.full
    by_bytes: ReadAhead[int] = ReadAhead(max_items=10, max_bytes=100)
    by_bytes.add(1, 99)
    assert not by_bytes.full
    by_bytes.add(2, 1)
    assert by_bytes.full
    assert by_bytes.take() == 1
    assert not by_bytes.full


async def test_the_filler_waits_until_half_the_buffer_is_taken() -> None:
    buffer: ReadAhead[int] = ReadAhead(max_items=4, max_bytes=100)
    for number in range(4):
        buffer.add(number, 1)
    waiting = asyncio.create_task(buffer.wanted())
    await asyncio.sleep(0)  # one turn of the loop: the task starts and waits
    buffer.take()
    await asyncio.sleep(0)
    assert not waiting.done(), "3 of 4 left: not yet worth a batch"
    buffer.take()
    await asyncio.wait_for(waiting, timeout=5)
    await asyncio.wait_for(buffer.wanted(), timeout=5)  # still half empty: no wait at all


async def test_a_buffer_over_half_its_bytes_is_not_wanted() -> None:
    buffer: ReadAhead[int] = ReadAhead(max_items=100, max_bytes=100)
    buffer.add(1, 60)
    waiting = asyncio.create_task(buffer.wanted())
    await asyncio.sleep(0)
    assert not waiting.done()
    buffer.take()
    await asyncio.wait_for(waiting, timeout=5)


async def test_closing_ends_the_fillers_wait_and_drain_gives_what_was_never_taken() -> None:
    buffer: ReadAhead[str] = ReadAhead(max_items=2, max_bytes=100)
    buffer.add("a", 50)
    buffer.add("b", 50)
    waiting = asyncio.create_task(buffer.wanted())
    await asyncio.sleep(0)
    assert not waiting.done()
    buffer.close()
    await asyncio.wait_for(waiting, timeout=5)
    assert buffer.closed
    assert buffer.drain() == ["a", "b"]
    assert buffer.take() is None
    assert len(buffer) == 0
    assert not buffer.full


# The run


class LoadCounter:
    """Counts the rows whose images the run has read, as each request starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loaded = 0
        self.at_request: list[int] = []

        def counted(*args: Any, **kwargs: Any) -> FormFields:
            self.loaded += 1
            return load_row(*args, **kwargs)

        monkeypatch.setattr("batch_uploader.engine.load_row", counted)

    def client(self) -> FakeClient:
        counter = self

        class Noting(FakeClient):
            async def put_images(self, fields: FormFields) -> Answer:
                counter.at_request.append(counter.loaded)
                return await super().put_images(fields)

        return Noting(VirtualClock())


def manifest_of(tmp_path: Path, make_image: ImageMaker, rows: int, image_bytes: int) -> Path:
    make_image("s.png", size=image_bytes)
    lines = ((f"sub-{number}", "s.png") for number in range(1, rows + 1))
    return write_csv_manifest(tmp_path / "m.csv", lines)


async def test_the_first_row_goes_out_at_once_then_batches_are_read_ahead_up_to_the_bound(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = LoadCounter(monkeypatch)
    manifest = manifest_of(tmp_path, make_image, rows=300, image_bytes=300)
    summary = await upload_manifest(
        manifest, run_settings(tmp_path / "r.csv", concurrency=1), client=counter.client()
    )
    assert summary.rows_by_status[Status.OK] == 300
    first, second = counter.at_request[:2]
    assert first == 1, "the worker read its own first row; nothing was read ahead yet"
    assert second - first == READ_AHEAD_BATCH, "then one batch was read while it was sent"
    # Rows read but not yet sent, as each request starts (the one starting is sent).
    ahead = [loaded - sent for sent, loaded in enumerate(counter.at_request, start=1)]
    assert READ_AHEAD_BATCH < max(ahead) <= READ_AHEAD_ROWS
    assert len(report_lines(tmp_path / "r.csv")) == 300


async def test_large_images_are_read_ahead_only_up_to_the_byte_bound(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = LoadCounter(monkeypatch)
    image_bytes = 250 * 1024  # read whole (not streamed), ~340 KB once encoded
    manifest = manifest_of(tmp_path, make_image, rows=100, image_bytes=image_bytes)
    await upload_manifest(
        manifest, run_settings(tmp_path / "r.csv", concurrency=1), client=counter.client()
    )
    batch = counter.at_request[1] - counter.at_request[0]
    encoded = base64_length(image_bytes)
    assert batch < READ_AHEAD_BATCH
    # Filled up to the bound, and by no more than the row that reached it.
    assert (batch - 1) * encoded < READ_AHEAD_BYTES <= batch * (encoded + 100)
    ahead = [loaded - sent for sent, loaded in enumerate(counter.at_request, start=1)]
    assert max(ahead) <= batch


async def test_rows_read_ahead_but_never_sent_get_cancelled_lines(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    manifest = manifest_of(tmp_path, make_image, rows=300, image_bytes=300)
    summary = await upload_manifest(
        manifest,
        run_settings(tmp_path / "r.csv", concurrency=1, max_requests=3),
        client=FakeClient(VirtualClock()),
    )
    assert summary.stop_reason is StopReason.MAX_REQUESTS
    lines = report_lines(tmp_path / "r.csv")
    assert sorted(int(line["row"]) for line in lines) == list(range(1, 301))
    statuses = [line["status"] for line in lines]
    assert statuses.count("ok") == 3
    assert statuses.count("cancelled") == 297
