"""The exceptions batch-uploader raises on purpose; anything else is a bug."""

from __future__ import annotations

from pathlib import Path


class BatchUploaderError(Exception):
    """Base of every error that the CLI turns into a message and exit code 2."""


class ConfigurationError(BatchUploaderError):
    """A setting or option cannot work as given; nothing has been sent."""


class MissingApiKeyError(ConfigurationError):
    """No API key was given through ARGOS_API_KEY or --api-key-file."""


class InsecureBaseUrlError(ConfigurationError):
    """The base URL would send images and the API key in clear text or to an odd scheme."""


class ReportExistsError(ConfigurationError):
    """The report file exists and neither --overwrite nor --resume was given."""


class ReportWriteError(BatchUploaderError):
    """The report cannot be written (disk full, file too large): the run stops at once."""


class ManifestError(BatchUploaderError):
    """The manifest cannot be read as a manifest at all (format, shape, columns)."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")
