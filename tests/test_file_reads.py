"""Reading image files: on the loop from the page cache, in a thread when a read would wait."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import pybase64
import pytest

from batch_uploader import file_reads
from batch_uploader.errors import ImageChangedError
from batch_uploader.file_reads import read_into
from batch_uploader.images import StreamedImage, load_encoded_image

from .fakes import upload_with_fake_client
from .support import ImageMaker, run_settings, write_csv_manifest


class ColdFiles:
    """A file system whose reads all wait for the disk: `RWF_NOWAIT` reads fail with EAGAIN
    (after `cached` bytes, if any), and plain reads note the thread they ran on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, cached: int = 0) -> None:
        self.cached = cached
        self.threads: set[int] = set()
        self.nowait_calls = 0
        self._real = os.preadv
        monkeypatch.setattr(os, "preadv", self.preadv)

    def preadv(self, fd: int, buffers: list[Any], offset: int, flags: int = 0) -> int:
        if flags & getattr(os, "RWF_NOWAIT", 0):
            self.nowait_calls += 1
            if offset >= self.cached:
                raise BlockingIOError(errno.EAGAIN, "would block")
            view = buffers[0][: self.cached - offset]
            return int(self._real(fd, [view], offset))
        self.threads.add(threading.get_ident())
        return int(self._real(fd, buffers, offset))


needs_nowait = pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="Linux's RWF_NOWAIT")


async def read_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        buffer = bytearray(os.fstat(fd).st_size + 10)
        count = await read_into(fd, memoryview(buffer), 0)
    finally:
        os.close(fd)
    return bytes(buffer[:count])


async def test_cached_bytes_are_read_on_the_loop(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = make_image("a.png", size=100_000)
    files = ColdFiles(monkeypatch, cached=10**9)
    assert await read_file(tmp_path / "a.png") == content
    if hasattr(os, "RWF_NOWAIT"):
        assert files.threads == set()
        assert files.nowait_calls >= 1


@needs_nowait
async def test_a_read_that_would_wait_goes_to_a_thread(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = make_image("a.png", size=100_000)
    files = ColdFiles(monkeypatch, cached=40_000)  # the first part cached, the rest not
    assert await read_file(tmp_path / "a.png") == content
    assert files.threads
    assert threading.get_ident() not in files.threads


@needs_nowait
async def test_a_file_system_that_refuses_nowait_is_read_in_threads_from_then_on(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = make_image("a.png", size=5_000)
    files = ColdFiles(monkeypatch)

    def refuse(fd: int, buffers: list[Any], offset: int, flags: int = 0) -> int:
        if flags:
            files.nowait_calls += 1
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return files.preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", refuse)
    monkeypatch.setattr(file_reads, "_nowait_reads", [True])
    assert await read_file(tmp_path / "a.png") == content
    assert await read_file(tmp_path / "a.png") == content
    assert files.nowait_calls == 1


@needs_nowait
async def test_a_streamed_image_from_cold_files_is_whole_and_read_off_the_loop(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = make_image("big.png", size=2_000_000)
    files = ColdFiles(monkeypatch)
    image = StreamedImage(str(tmp_path / "big.png"), len(content))
    encoded = b"".join([chunk async for chunk in image.chunks()])
    assert encoded == pybase64.b64encode(content)
    assert files.threads
    assert threading.get_ident() not in files.threads


@needs_nowait
async def test_a_run_over_cold_files_reads_them_in_threads_and_sends_every_row(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small images were read whole with a blocking read on the loop: on a cold network
    mount every read held every request. Now a read the cache cannot answer goes to a thread."""
    make_image("small.png", size=20_000)
    rows = [(f"s{number}", "small.png") for number in range(40)]
    manifest = write_csv_manifest(tmp_path / "m.csv", rows)
    files = ColdFiles(monkeypatch)
    pread_threads: set[int] = set()
    real_pread = os.pread

    def noting_pread(fd: int, length: int, offset: int) -> bytes:
        pread_threads.add(threading.get_ident())
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", noting_pread)
    summary = await upload_with_fake_client(
        manifest, run_settings(tmp_path / "r.csv", concurrency=4)
    )
    assert summary.all_ok
    loop_thread = threading.get_ident()
    assert files.nowait_calls >= 40  # each tried on the loop first
    assert pread_threads
    assert loop_thread not in pread_threads


async def test_a_fifo_swapped_in_for_a_large_image_does_not_hang_its_upload(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    """The large image is reopened on the loop when its request goes out: a FIFO put in its
    place since the check would block that open, and with it the whole run."""
    content = make_image("big.png", size=600_000)
    image = StreamedImage(str(tmp_path / "big.png"), len(content))
    (tmp_path / "big.png").unlink()
    os.mkfifo(tmp_path / "big.png")
    with pytest.raises(ImageChangedError, match="no longer a regular file"):
        async for _ in image.chunks():
            pass


@needs_nowait
def test_images_read_through_the_reused_buffer_each_keep_their_own_bytes(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    """One buffer serves every read on the loop: each image must be encoded from it before
    the next read overwrites it, whatever their sizes."""
    buffer = file_reads.ReusedBuffer(64 * 1024)
    images = {
        name: make_image(name, size=size)
        for name, size in (("a.jpg", 40_000), ("b.png", 900), ("c.jpg", 20_000))
    }
    encoded = [load_encoded_image(tmp_path / name, buffer=buffer) for name in (*images, "a.jpg")]
    assert encoded == [
        pybase64.b64encode(content) for content in (*images.values(), images["a.jpg"])
    ]


@needs_nowait
def test_a_file_larger_than_the_reused_buffer_is_read_whole_all_the_same(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    content = make_image("big.jpg", size=10_000)
    buffer = file_reads.ReusedBuffer(4096)
    fd = os.open(tmp_path / "big.jpg", os.O_RDONLY)
    try:
        assert bytes(buffer.read_if_cached(fd, len(content)) or b"") == content
        # A file that grew after it was sized is read to its new end.
        with (tmp_path / "big.jpg").open("ab") as grow:
            grow.write(b"more")
        assert bytes(buffer.read_if_cached(fd, 100) or b"") == content + b"more"
    finally:
        os.close(fd)


@needs_nowait
def test_the_reused_buffer_says_when_a_read_would_wait(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_image("cold.jpg", size=5000)
    ColdFiles(monkeypatch)
    fd = os.open(tmp_path / "cold.jpg", os.O_RDONLY)
    try:
        assert file_reads.ReusedBuffer(8192).read_if_cached(fd, 5000) is None
    finally:
        os.close(fd)
