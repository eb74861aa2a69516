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
