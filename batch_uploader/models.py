"""Plain data shared by every part of batch-uploader: field names, rows, answers, results."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

SUBMISSION_ID = "submissionId"
ADMIN = "admin"
ID_TYPE = "idType"
IMAGE_FIELDS = ("idImage", "idBackImage", "selfieImage", "addressImage")
ID_DOCUMENT_FIELDS = frozenset({"idImage", "idBackImage"})
FIELD_ORDER = (SUBMISSION_ID, ADMIN, ID_TYPE, *IMAGE_FIELDS)

# Manifests may use the API's camelCase names or these snake_case forms.
FIELD_ALIASES: Mapping[str, str] = {
    "submission_id": SUBMISSION_ID,
    "id_type": ID_TYPE,
    "id_image": "idImage",
    "id_back_image": "idBackImage",
    "selfie_image": "selfieImage",
    "address_image": "addressImage",
}

# The vendor's guide lists these; its newer pages do not, so others only earn a warning.
DOCUMENTED_ID_TYPES = frozenset(
    {
        "drivers_license",
        "government_id",
        "passport",
        "residence_permit",
        "vehicle_registration_certificate",
        "visa",
        "aadhaar",
        "pancard",
    }
)


def undocumented_id_type(values: Mapping[str, str]) -> str | None:
    """The row's idType when it is set and outside the documented list: worth a warning."""
    id_type = values.get(ID_TYPE)
    return id_type if id_type and id_type not in DOCUMENTED_ID_TYPES else None


def submission_hash(submission_id: str) -> int:
    """A stable 64-bit hash of a submissionId: the first 8 bytes of its BLAKE2b, big-endian.

    The same on every machine and Python version; sharding and resume both key on it.
    """
    digest = hashlib.blake2b(submission_id.encode("utf-8", "surrogateescape"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def canonical_field(name: str) -> str | None:
    """The API's name for a manifest column or key, or None when it is not one we know."""
    if name in FIELD_ORDER:
        return name
    return FIELD_ALIASES.get(name)


class Status(StrEnum):
    """How a row ended, as written in the report's `status` column."""

    OK = "ok"
    FAILED = "failed"
    INVALID = "invalid"
    CANCELLED = "cancelled"


class StopReason(StrEnum):
    """Why a run stopped before every row was tried."""

    CREDENTIALS_REFUSED = "credentials_refused"  # HTTP 403 or invalid_project
    MAX_FAILURES = "max_failures"
    MAX_REQUESTS = "max_requests"
    INTERRUPTED = "interrupted"  # SIGINT
    TERMINATED = "terminated"  # SIGTERM


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row cannot be sent: a local error code for the report and a plain explanation."""

    code: str
    message: str


class InvalidRowError(Exception):
    """Raised while checking a row that cannot be sent; carries the problem to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.problem = RowProblem(code, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRow:
    """One submission read from a manifest, before any check of its files.

    `values` maps API field names to the non-empty text the manifest gives them (defaults
    applied). `problem` is set when the reader itself could not make sense of the row.
    """

    row: int
    line: int
    values: Mapping[str, str]
    problem: RowProblem | None = None

    @property
    def submission_id(self) -> str:
        return self.values.get(SUBMISSION_ID, "")

    @property
    def image_fields(self) -> tuple[str, ...]:
        return tuple(name for name in IMAGE_FIELDS if name in self.values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What one HTTP attempt came to: the server's answer, or why there was none."""

    http_status: int | None
    error_code: str = ""
    message: str = ""
    retry_after: float | None = None

    @property
    def accepted(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


@dataclass(frozen=True, slots=True, kw_only=True)
class RowResult:
    """The outcome of one row: exactly what its report line says."""

    row: int
    submission_id: str
    fields: tuple[str, ...]
    status: Status
    http_status: int | None = None
    error_code: str = ""
    message: str = ""
    attempts: int = 0
    elapsed_ms: int = 0
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
