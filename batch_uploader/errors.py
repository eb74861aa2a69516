"""Every exception batch-uploader raises on purpose; anything else is a bug.

The public ones derive from `BatchUploaderError` and name settings as the library does
(`max_attempts`, `report_path`); the command line names them by its flags. The internal ones,
at the end, never escape `upload_manifest` or `validate_manifest`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class BatchUploaderError(Exception):
    """Base of every error that the CLI turns into a message and exit code 2."""


class ConfigurationError(BatchUploaderError):
    """A setting, option or file cannot work as given; nothing has been sent."""


class SettingError(ConfigurationError):
    """One setting's value cannot work.

    `describe` names the setting the caller's way (the command line: by its flag). The
    value is left out of the message when it is None (a secret, or a flag).
    """

    def __init__(self, setting: str, value: object, problem: str) -> None:
        self.setting = setting
        self.value = value
        self.problem = problem
        super().__init__(self.describe(lambda name: name))

    def describe(self, name_of: Callable[[str], str]) -> str:
        where = name_of(self.setting)
        if self.value is not None:
            where += f" {self.value}"
        return f"{where}: {self.problem}"


class ConflictingSettingsError(SettingError):
    """Two settings that cannot both be given."""

    def __init__(self, setting: str, other: str) -> None:
        self.other = other
        super().__init__(setting, None, "")

    def describe(self, name_of: Callable[[str], str]) -> str:
        return f"{name_of(self.setting)} and {name_of(self.other)} contradict each other; pick one"


class InsecureBaseUrlError(SettingError):
    """The base URL would send images and the API key in clear text or to an odd scheme."""


class MissingApiKeyError(ConfigurationError):
    """No API key was given (the command line: ARGOS_API_KEY or --api-key-file)."""


class ReportExistsError(ConfigurationError):
    """The report file exists, and the run was told neither to resume nor to overwrite it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"report {path} exists already; resume it, overwrite it, or choose another path"
        )


class ReportInUseError(ConfigurationError):
    """Another run holds the report: two runs on one report would upload rows twice."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(
            f"report {path} is in use by {holder or 'another run'}; wait for that run to end, "
            "or stop it, before starting another on the same report"
        )


class ReportWriteError(BatchUploaderError):
    """The report cannot be written (disk full, file too large): the run stops at once.

    The lines written before are kept, so the run can be resumed once there is room.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot write the report {path}: {reason}. The lines written so far are kept: "
            "make room, then resume the run"
        )


class ManifestError(BatchUploaderError):
    """The manifest cannot be read as a manifest at all (format, shape, columns)."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


# Internal: raised and caught inside the library.


class InvalidRowError(Exception):
    """A row cannot be sent: `code` goes to the report's errorCode, `message` explains it;
    `path` is the file it is about, when it is about one."""

    def __init__(self, code: str, message: str, *, path: str | os.PathLike[str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = None if path is None else os.fspath(path)


class DescriptorsExhaustedError(Exception):
    """The process (or the system) has no file descriptor left: a shortage of the moment,
    never a fault of the row whose file could not be opened."""


class ReadWouldWait(Exception):  # noqa: N818 (not a failure: "read it in a thread instead")
    """An image's bytes are not in the page cache: reading them on the event loop would
    hold every request until the disk (or network mount) answers."""


class RunStoppedError(Exception):
    """Raised inside a worker when the run stopped while it waited or was about to send."""


class ImageChangedError(Exception):
    """A streamed image file changed size between its checks and its upload."""
