"""The exit statuses SPEC.md fixes, and which one a run's end earns."""

from __future__ import annotations

from batch_uploader.results import StopReason
from batch_uploader.stats import RunSummary

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_CONFIGURATION = 2
EXIT_STOPPED = 3
EXIT_BUDGET_SPENT = 4
EXIT_API_UNAVAILABLE = 5
EXIT_INTERRUPTED = 130
STOP_EXIT_CODES = {
    StopReason.CREDENTIALS_REFUSED: EXIT_STOPPED,
    StopReason.MAX_FAILURES: EXIT_STOPPED,
    StopReason.OUT_OF_FILES: EXIT_STOPPED,
    StopReason.MANIFEST_UNREADABLE: EXIT_STOPPED,
    StopReason.MAX_REQUESTS: EXIT_BUDGET_SPENT,
    StopReason.QUOTA_SPENT: EXIT_BUDGET_SPENT,
    StopReason.API_UNAVAILABLE: EXIT_API_UNAVAILABLE,
    StopReason.TLS_NOT_TRUSTED: EXIT_API_UNAVAILABLE,
    StopReason.NAME_NOT_RESOLVED: EXIT_API_UNAVAILABLE,
    StopReason.PROXY_REFUSED: EXIT_API_UNAVAILABLE,
    StopReason.INTERRUPTED: EXIT_INTERRUPTED,
    StopReason.TERMINATED: 143,
}


def exit_code(summary: RunSummary) -> int:
    """0 every row ok, 1 some failed or invalid, or the code of what stopped the run."""
    if summary.stop_reason is not None:
        return STOP_EXIT_CODES[summary.stop_reason]
    return EXIT_OK if summary.all_ok else EXIT_ROWS_FAILED
