"""One run per report: an exclusive lock, held for the whole run, beside the report file.

The lock is `flock` on `.<report name>.lock` in the report's folder, not on the report
itself: `--resume` replaces the report by a rename, and a lock on the old file would not
cover the new one. The lock file holds the holder's process id, so that a second run can
say who holds it; it stays when the run ends (removing it would let two runs lock two
different files of the same name). The operating system releases the lock when the process
ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from batch_uploader.errors import ConfigurationError, ReportInUseError

LOCK_MODE = 0o600


def lock_path(report: Path) -> Path:
    return report.with_name(f".{report.name}.lock")


class ReportLock:
    """Holds the report's lock until `release` (or the end of a `with` block)."""

    def __init__(self, report: Path) -> None:
        self.path = lock_path(report)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOCK_MODE)
        except OSError as error:
            raise ConfigurationError(
                f"cannot create the lock file {self.path} for report {report}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ReportInUseError(report, holder) from None
        except OSError as error:
            os.close(fd)
            raise ConfigurationError(
                f"cannot lock {self.path} for report {report}: {error.strerror}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> ReportLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    pid, _, host = text.partition(" ")
    if not pid.isascii() or not pid.isdigit():
        return ""
    return f"process {pid} on {host}" if host else f"process {pid}"
