"""How rows and runs end: the report's statuses, why a run stopped, and one row's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


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
    QUOTA_SPENT = "quota_spent"  # 429 Limit Exceeded, with the quota policy "stop"
    API_UNAVAILABLE = "api_unavailable"  # no answer from the API for max_outage seconds
    TLS_NOT_TRUSTED = "tls_not_trusted"  # the server's certificate does not verify
    NAME_NOT_RESOLVED = "name_not_resolved"  # the API's host name does not resolve
    PROXY_REFUSED = "proxy_refused"  # the proxy lets nothing through (407, or CONNECT refused)
    MANIFEST_UNREADABLE = "manifest_unreadable"  # a streamed manifest broke after its start
    OUT_OF_FILES = "out_of_files"  # no file descriptor came free for a minute (ulimit -n)
    INTERRUPTED = "interrupted"  # SIGINT
    TERMINATED = "terminated"  # SIGTERM


# Not frozen, as `ManifestRow`: one is made per row, and a frozen dataclass of this size
# costs 2.5x as much to make. Nothing changes a result once it is made.
@dataclass(slots=True, kw_only=True)
class RowResult:
    """The outcome of one row: what its report line says, and (for logs, not the report)
    the file an invalid row's problem is about."""

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
    problem_path: str | None = None
