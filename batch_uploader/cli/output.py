"""Log lines and the end-of-run summary, as text or as one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from batch_uploader.events import RetryEvent, RunObserver
from batch_uploader.manifest import ManifestRow
from batch_uploader.results import RowResult, Status, StopReason
from batch_uploader.stats import RunSummary

logger = logging.getLogger("batch_uploader")

LOG_FORMATS = ("text", "json")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, message, and any structured `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(log_format: str = "text") -> None:
    """Log batch-uploader's lines to stderr, as text or JSON."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


class LoggingObserver(RunObserver):
    """Logs failed and invalid rows as warnings and each retry as information."""

    def on_row_finished(self, result: RowResult) -> None:
        if result.status in {Status.FAILED, Status.INVALID}:
            logger.warning(
                "row %d (%s): %s %s: %s",
                result.row,
                result.submission_id or "no submissionId",
                result.status.value,
                result.error_code,
                result.message,
                extra={
                    "fields": {
                        "row": result.row,
                        "submissionId": result.submission_id,
                        "status": result.status.value,
                        "errorCode": result.error_code,
                    }
                },
            )

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        answer = event.answer
        logger.info(
            "row %d (%s): attempt %d got %s; retrying in %.1f s",
            row.row,
            row.submission_id,
            event.attempt,
            answer.error_code or answer.http_status,
            event.wait,
        )


def stop_message(reason: StopReason, *, max_failures: int | None, max_requests: int | None) -> str:
    """What stopped the run and, where it helps, what to check."""
    messages = {
        StopReason.CREDENTIALS_REFUSED: (
            "the API refused the credentials (HTTP 403 or invalid_project), so no row can "
            "succeed: check the API key (ARGOS_API_KEY or --api-key-file), that this "
            "machine's IP address is on the project's allow-list, and that the project is active"
        ),
        StopReason.MAX_FAILURES: f"{max_failures} rows failed (--max-failures {max_failures})",
        StopReason.MAX_REQUESTS: (
            f"the budget of {max_requests} requests is spent (--max-requests {max_requests})"
        ),
        StopReason.INTERRUPTED: "interrupted (SIGINT)",
        StopReason.TERMINATED: "terminated (SIGTERM)",
    }
    return messages[reason]


def summary_text(summary: RunSummary, *, stop: str | None, resume_command: str | None) -> str:
    """The human summary printed at the end of a run."""
    counts = ", ".join(
        f"{count} {status.value}"
        + (
            f" ({summary.earlier_ok} from the earlier report)"
            if status is Status.OK and summary.earlier_ok
            else ""
        )
        for status, count in summary.rows_by_status.items()
    )
    latency = "no requests"
    if summary.latency_p50_ms is not None and summary.latency_p95_ms is not None:
        latency = (
            f"latency p50 {summary.latency_p50_ms:.0f} ms, p95 {summary.latency_p95_ms:.0f} ms"
        )
    lines = [
        f"Done in {summary.elapsed_seconds:.1f} s: {summary.rows} rows: {counts}",
        f"Requests: {summary.requests} ({summary.retries} retries), "
        f"{summary.rows_per_second:.1f} rows/s, {latency}",
        f"Report: {summary.report_path}",
    ]
    if stop is not None:
        lines.append(f"Stopped early: {stop}")
    if resume_command is not None:
        lines.append(f"To continue: {resume_command}")
    return "\n".join(lines)


def summary_fields(
    summary: RunSummary, *, stop: str | None, resume_command: str | None
) -> dict[str, object]:
    """The same summary as structured fields, for --log-format json."""
    return {
        "event": "summary",
        "rows": summary.rows,
        **{status.value: count for status, count in summary.rows_by_status.items()},
        "earlierOk": summary.earlier_ok,
        "requests": summary.requests,
        "retries": summary.retries,
        "elapsedSeconds": round(summary.elapsed_seconds, 3),
        "rowsPerSecond": round(summary.rows_per_second, 2),
        "latencyP50Ms": summary.latency_p50_ms,
        "latencyP95Ms": summary.latency_p95_ms,
        "report": str(summary.report_path),
        "stopReason": summary.stop_reason.value if summary.stop_reason else None,
        "stopMessage": stop,
        "resumeCommand": resume_command,
    }
