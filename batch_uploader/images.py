"""Image files: safe opening, the checks SPEC.md asks for, and Base64 encoding.

Small images are read whole with one system call (on the event loop: cheaper than a thread
hop); larger ones become `StreamedImage`s, read and encoded chunk by chunk as their request
goes out: on the loop when the page cache holds the chunk, in aiofiles' threads when it does
not (`file_reads`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeAlias

import pybase64

from batch_uploader.api import IMAGE_SUFFIXES, JPEG_MAGIC, PNG_MAGIC
from batch_uploader.errors import (
    DescriptorsExhaustedError,
    ImageChangedError,
    InvalidRowError,
    ReadWouldWait,
)
from batch_uploader.file_reads import (
    BufferPool,
    ReusedBuffer,
    read_into,
    read_whole,
)

# Paths may be plain strings: on the per-row path a pathlib.Path costs more than the check.
StrPath: TypeAlias = str | os.PathLike[str]
MAGIC_LENGTH = max(len(JPEG_MAGIC), len(PNG_MAGIC))
# O_NONBLOCK: an image is opened on the loop, and opening a FIFO must not hang the run.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


# Images larger than this are not read whole: their request streams them from the file.
STREAM_ABOVE_BYTES = 256 * 1024
# Raw bytes read and encoded at a time when streaming; a multiple of 3 keeps Base64 chunks
# free of padding until the last one.
STREAM_CHUNK_BYTES = 3 * 256 * 1024


@dataclass(frozen=True, slots=True)
class StreamedImage:
    """An image sent straight from its file, Base64-encoded chunk by chunk as it goes out."""

    path: StrPath
    size: int
    within: str | None = None  # --base-dir, resolved: checked again when the file reopens

    @property
    def encoded_length(self) -> int:
        return base64_length(self.size)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Its Base64, in pieces; raises ImageChangedError if the file is not `size` long,
        or can no longer be read (deleted, moved, a mount gone)."""
        try:
            # O_NONBLOCK: the loop opens it, and a FIFO swapped in since the check must not
            # hang the run; the check of what was opened follows.
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError as error:
            raise _unreadable_now(self.path, error) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ImageChangedError(f"{self.path} is no longer a regular file")
            if self.within is not None:
                try:
                    check_confined(fd, self.path, self.within)
                except InvalidRowError as escape:
                    raise ImageChangedError(escape.message) from None
            offset = 0
            while offset < self.size:
                encoded, count = await _read_encoded(fd, offset, self.size - offset)
                if count == 0:
                    break
                offset += count
                yield encoded
            if offset != self.size or await read_into(fd, memoryview(bytearray(1)), offset):
                raise ImageChangedError(f"{self.path} changed size during its upload")
        except OSError as error:
            raise _unreadable_now(self.path, error) from None
        finally:
            os.close(fd)


_read_buffers = BufferPool(STREAM_CHUNK_BYTES)


async def _read_encoded(fd: int, offset: int, remaining: int) -> tuple[bytes, int]:
    """The next chunk's Base64, and how many file bytes it holds."""
    buffer = _read_buffers.take()
    try:
        view = memoryview(buffer)[: min(STREAM_CHUNK_BYTES, remaining)]
        count = await read_into(fd, view, offset)
        return pybase64.b64encode(view[:count]), count
    finally:
        _read_buffers.give(buffer)


def _unreadable_now(path: StrPath, error: OSError) -> ImageChangedError:
    reason = error.strerror or type(error).__name__
    return ImageChangedError(f"{path} could not be read during its upload: {reason}")


def base64_length(size: int) -> int:
    """Length of the padded standard Base64 of `size` bytes."""
    return 4 * ((size + 2) // 3)


def check_suffix(path: StrPath) -> None:
    """Refuse names the API would not take, before touching the file."""
    if os.path.splitext(path)[1].lower() not in IMAGE_SUFFIXES:  # noqa: PTH122 (hot path)
        raise InvalidRowError(
            "not_an_image",
            f"{path} is not named .jpg, .jpeg or .png; only JPEG and PNG are sent",
            path=path,
        )


def image_size(path: StrPath, *, within: str | None = None) -> int:
    """Check the file as `load_encoded_image` does, reading only its first bytes; return its
    size."""
    fd, size = _open_regular_file(path, within)
    try:
        head = os.read(fd, MAGIC_LENGTH)
    except OSError as error:
        raise InvalidRowError(
            "unreadable", f"{path} cannot be read: {error.strerror}", path=path
        ) from None
    finally:
        os.close(fd)
    _check_content(path, head, size)
    return size


def load_encoded_image(
    path: StrPath, *, within: str | None = None, buffer: ReusedBuffer | None = None
) -> bytes | StreamedImage:
    """A checked image as its request sends it: the Base64 of a small one, or, when larger
    than `STREAM_ABOVE_BYTES`, a `StreamedImage`. With `within`, the file must lie under
    that resolved folder (`--base-dir`). With `buffer` (on the event loop only), the file is
    read into it from the page cache, and `ReadWouldWait` raised rather than wait for the
    disk; without it, plain reads that may wait."""
    fd, size = _open_regular_file(path, within)
    try:
        if size > STREAM_ABOVE_BYTES:
            _check_content(path, os.read(fd, MAGIC_LENGTH), size)
            return StreamedImage(path, size, within)
        content = read_whole(fd, size) if buffer is None else buffer.read_if_cached(fd, size)
        if content is None:
            raise ReadWouldWait(path)
    except OSError as error:
        raise InvalidRowError(
            "unreadable", f"{path} cannot be read: {error.strerror}", path=path
        ) from None
    finally:
        os.close(fd)
    _check_content(path, bytes(content[:MAGIC_LENGTH]), len(content))
    return encode_image(content)


def encode_image(content: bytes | memoryview) -> bytes:
    """Standard, padded Base64, as the API expects (pybase64: SIMD, ~30x the stdlib's speed)."""
    return pybase64.b64encode(content)


def _open_regular_file(path: StrPath, within: str | None = None) -> tuple[int, int]:
    """Open an image file for reading; its descriptor and size. With `within`, the file
    opened must lie under that (resolved) folder."""
    # O_NONBLOCK: opening a FIFO must not hang the run; fstat then rejects it.
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise InvalidRowError("file_not_found", f"{path} does not exist", path=path) from None
    except PermissionError:
        raise InvalidRowError(
            "unreadable", f"{path} cannot be read: permission denied", path=path
        ) from None
    except OSError as error:
        if error.errno in {errno.EMFILE, errno.ENFILE}:
            raise DescriptorsExhaustedError(error.strerror or "Too many open files") from None
        if error.errno == errno.ELOOP:
            raise InvalidRowError(
                "file_not_found", f"{path} is a symbolic link loop", path=path
            ) from None
        if error.errno == errno.EISDIR:
            raise InvalidRowError(
                "not_a_file", f"{path} is a folder, not an image file", path=path
            ) from None
        raise InvalidRowError(
            "unreadable", f"{path} cannot be opened: {error.strerror}", path=path
        ) from None
    try:
        if within is not None:
            check_confined(fd, path, within)
        status = os.fstat(fd)
        _check_regular(path, status)
    except BaseException:
        os.close(fd)
        raise
    # O_NONBLOCK has no effect on a regular file's reads, so the flag can stay.
    return fd, status.st_size


def _check_regular(path: StrPath, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise InvalidRowError("not_a_file", f"{path} is not a regular file", path=path)


def check_confined(fd: int, path: StrPath, within: str) -> None:
    """Refuse an open file that is not under `within` (`--base-dir`).

    The path was resolved and checked before, but a symbolic link swapped in since then
    would be followed by the open: what counts is where the open file actually is, which the
    kernel tells (Linux: /proc/self/fd; macOS: F_GETPATH). Elsewhere the earlier check stands.
    """
    where = _path_of_descriptor(fd)
    if where is None or where == within or where.startswith(within.rstrip(os.sep) + os.sep):
        return
    raise InvalidRowError(
        "outside_base_dir",
        f"{path} led outside --base-dir {within} when it was opened (a symbolic link changed "
        "after the check?); move the file or change --base-dir",
        path=path,
    )


def _path_of_descriptor(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")  # noqa: PTH115 (per file: a string is cheaper)
    except OSError:
        pass
    get_path = getattr(fcntl, "F_GETPATH", None)
    if get_path is None:
        return None
    try:
        return os.fsdecode(fcntl.fcntl(fd, get_path, bytes(4096)).rstrip(b"\0"))
    except OSError:
        return None


def _check_content(path: StrPath, head: bytes, size: int) -> None:
    if size == 0:
        raise InvalidRowError("empty_file", f"{path} is empty", path=path)
    if not (head.startswith(JPEG_MAGIC) or head.startswith(PNG_MAGIC)):
        raise InvalidRowError(
            "not_an_image",
            f"{path} is not a JPEG or PNG file (its first bytes say otherwise)",
            path=path,
        )
