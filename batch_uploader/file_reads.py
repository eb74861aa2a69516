"""Reading a file's bytes: on the event loop when the page cache has them, in aiofiles'
threads when it does not.

A read from the page cache takes microseconds, less than a hop to a thread and back; a read
from a cold network mount (NFS, SMB, EFS) can take milliseconds to seconds, and on the loop
it would stall every request. Linux answers both cases at once: `preadv` with `RWF_NOWAIT`
returns what is cached, or fails with EAGAIN instead of waiting for the disk. Elsewhere
(macOS, a file system that refuses the flag) every read goes to the threads.
"""

from __future__ import annotations

import errno
import os

import aiofiles.os


def _preadv(fd: int, buffers: list[memoryview], offset: int) -> int:
    return os.preadv(fd, buffers, offset)


_preadv_in_thread = aiofiles.os.wrap(_preadv)
# Cleared for good the first time the kernel or file system refuses the flag.
_nowait_reads = [hasattr(os, "RWF_NOWAIT") and hasattr(os, "preadv")]


async def read_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill `view` from `fd` at `offset`, as far as the file goes; the bytes read."""
    filled = 0
    while filled < len(view):
        rest = view[filled:]
        count = _read_if_cached(fd, rest, offset + filled)
        if count is None:
            count = await _preadv_in_thread(fd, [rest], offset + filled)
        if count == 0:
            break
        filled += count
    return filled


def _read_if_cached(fd: int, view: memoryview, offset: int) -> int | None:
    """What the page cache holds of the range (perhaps a part), or None: it would wait."""
    if not _nowait_reads[0]:
        return None
    try:
        return os.preadv(fd, [view], offset, os.RWF_NOWAIT)
    except BlockingIOError:
        return None
    except OSError as error:
        if error.errno not in {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}:
            raise
        _nowait_reads[0] = False
        return None


class ReusedBuffer:
    """One buffer that small files are read into, whole, on the event loop's thread.

    A fresh buffer per image is zero-filled, and then copied into a `bytes`: for a 50 KB
    image that memset and memcpy were a quarter of the instructions a row costs. Read here,
    an image is encoded straight from the buffer. What `read_if_cached` returns is valid
    until its next call: encode it first.
    """

    def __init__(self, capacity: int) -> None:
        self._buffer = bytearray(capacity + 1)

    def read_if_cached(self, fd: int, size: int) -> memoryview | bytes | None:
        """The whole file (`size` bytes, or more if it grew) when the page cache holds it;
        None when some of it would wait for the disk. Without `RWF_NOWAIT`, plain reads."""
        if not _nowait_reads[0]:
            return read_whole(fd, size)
        if size >= len(self._buffer):
            # A new buffer, not a resized one: a view of the old one may still be alive.
            self._buffer = bytearray(size + 1)
        view = memoryview(self._buffer)[: size + 1]
        filled = 0
        # Done at its end (a read of 0), or once it holds the `size` bytes fstat gave: whether
        # a byte more is uncached or absent, what was sized is read, in one system call mostly.
        while filled < size:
            count = _read_if_cached(fd, view[filled:], filled)
            if count is None:
                return None
            if count == 0:
                break
            filled += count
        if filled > size:
            return bytes(view[:filled]) + _read_rest(fd, filled)  # it grew since it was sized
        return view[:filled]


def read_whole(fd: int, size: int) -> bytes:
    """Plain reads to the file's end, waiting as long as the disk takes: one read, unless
    the file grew past `size`."""
    first = os.pread(fd, size + 1, 0)
    return first if len(first) <= size else first + _read_rest(fd, len(first))


def _read_rest(fd: int, offset: int) -> bytes:
    chunks = []
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


class BufferPool:
    """Reusable read buffers: a fresh 768 KiB buffer per chunk cost ~200 page faults each
    (0.5 ms a 1 MiB image). A read served from the cache gives its buffer back before the
    loop moves on, so one buffer usually serves the whole run."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[bytearray] = []

    def take(self) -> bytearray:
        return self._free.pop() if self._free else bytearray(self.size)

    def give(self, buffer: bytearray) -> None:
        self._free.append(buffer)
