"""Image files: safe opening, the checks SPEC.md asks for, and Base64 encoding.

Everything here blocks on the file system; the engine runs it in a worker thread.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
from pathlib import Path

from batch_uploader.models import InvalidRowError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAGIC_LENGTH = len(PNG_MAGIC)


def base64_length(size: int) -> int:
    """Length of the padded standard Base64 of `size` bytes."""
    return 4 * ((size + 2) // 3)


def check_suffix(path: Path) -> None:
    """Refuse names the API would not take, before touching the file."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InvalidRowError(
            "not_an_image", f"{path} is not named .jpg, .jpeg or .png; only JPEG and PNG are sent"
        )


def image_size(path: Path) -> int:
    """Check the file as `read_image` would, reading only its first bytes; return its size."""
    fd = _open_regular_file(path)
    try:
        size = os.fstat(fd).st_size
        _check_content(path, os.read(fd, MAGIC_LENGTH), size)
        return size
    finally:
        os.close(fd)


def read_image(path: Path, *, max_size: int) -> bytes:
    """Read a whole image file once and check it; refuse it unread when over `max_size`."""
    fd = _open_regular_file(path)
    try:
        size = os.fstat(fd).st_size
        if size > max_size:
            raise InvalidRowError(
                "too_large", f"{path} is {size:,} bytes, too large for one request"
            )
        with os.fdopen(os.dup(fd), "rb") as file:
            content = file.read()
    except OSError as error:
        raise InvalidRowError("unreadable", f"{path} cannot be read: {error.strerror}") from None
    finally:
        os.close(fd)
    _check_content(path, content[:MAGIC_LENGTH], len(content))
    return content


def encode_image(content: bytes) -> bytes:
    """Standard, padded Base64, as the API expects."""
    return base64.b64encode(content)


def _open_regular_file(path: Path) -> int:
    # O_NONBLOCK: opening a FIFO must not hang the run; fstat then rejects it.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InvalidRowError("file_not_found", f"{path} does not exist") from None
    except PermissionError:
        raise InvalidRowError("unreadable", f"{path} cannot be read: permission denied") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InvalidRowError("file_not_found", f"{path} is a symbolic link loop") from None
        if error.errno == errno.EISDIR:
            raise InvalidRowError("not_a_file", f"{path} is a folder, not an image file") from None
        raise InvalidRowError("unreadable", f"{path} cannot be opened: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidRowError("not_a_file", f"{path} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def _check_content(path: Path, head: bytes, size: int) -> None:
    if size == 0:
        raise InvalidRowError("empty_file", f"{path} is empty")
    if not (head.startswith(JPEG_MAGIC) or head.startswith(PNG_MAGIC)):
        raise InvalidRowError(
            "not_an_image", f"{path} is not a JPEG or PNG file (its first bytes say otherwise)"
        )
