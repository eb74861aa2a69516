"""Log lines, as text or as one JSON object per line: rows that failed, retries, and the
API's state as the run sees it."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from batch_uploader.events import ApiCondition, ApiState, RetryEvent, RunObserver
from batch_uploader.results import RowResult, Status

if TYPE_CHECKING:
    from batch_uploader.manifest import ManifestRow

logger = logging.getLogger("batch_uploader")

LOG_FORMATS = ("text", "json")
# The statuses whose rows are logged (made once: every row is looked up in it).
_PROBLEMS = frozenset({Status.FAILED, Status.INVALID})


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


def logging_as_json() -> bool:
    """Whether the package's log lines are JSON (`--log-format json`)."""
    return any(isinstance(handler.formatter, JsonLogFormatter) for handler in logger.handlers)


def json_requested(args: list[str]) -> bool:
    """Whether a command line asks for JSON logs, read before click parses it: an error in
    the options themselves must be JSON too."""
    return any(
        word == "--log-format=json" or (word == "--log-format" and following == "json")
        for word, following in itertools.pairwise([*args, ""])
    )


def log_error(message: str, *, exit_code: int) -> None:
    """An error that ends the command: a JSON line with --log-format json, else plain text."""
    if logging_as_json():
        logger.error("%s", message, extra={"fields": {"event": "error", "exitCode": exit_code}})
    else:
        click.echo(f"batch-uploader: error: {message}", err=True)


# Each kind of problem (status and errorCode) is logged row by row this many times; its
# further rows are counted and summed up at the end, so a million rows whose images sit on
# a missing mount make a few log lines, not a million.
ROWS_LOGGED_PER_PROBLEM = 10


@dataclass
class _Repeats:
    """The rows of one kind of problem beyond those logged one by one."""

    rows: int = 0
    first_row: int = 0
    last_row: int = 0
    folder: str | None = None  # the folder all their files are under, if any

    def add(self, result: RowResult) -> None:
        if not self.rows:
            self.first_row = result.row
            self.folder = _folder(result.problem_path)
        elif self.folder is not None:
            self.folder = _common_folder(self.folder, _folder(result.problem_path))
        self.rows += 1
        self.last_row = result.row


class LoggingObserver(RunObserver):
    """Logs failed and invalid rows as warnings (the first `ROWS_LOGGED_PER_PROBLEM` of
    each errorCode; `log_repeats` sums up the rest) and each retry as information."""

    def __init__(self) -> None:
        self._logged: Counter[tuple[Status, str]] = Counter()
        self._repeats: dict[tuple[Status, str], _Repeats] = {}

    def on_row_finished(self, result: RowResult) -> None:
        if result.status not in _PROBLEMS:
            return
        problem = (result.status, result.error_code)
        if self._logged[problem] >= ROWS_LOGGED_PER_PROBLEM:
            self._repeats.setdefault(problem, _Repeats()).add(result)
            return
        self._logged[problem] += 1
        logger.warning(
            "row %d (%s): %s %s: %s%s",
            result.row,
            result.submission_id or "no submissionId",
            result.status.value,
            result.error_code,
            result.message,
            " (further rows like this are counted, not logged one by one)"
            if self._logged[problem] == ROWS_LOGGED_PER_PROBLEM
            else "",
            extra={
                "fields": {
                    "row": result.row,
                    "submissionId": result.submission_id,
                    "status": result.status.value,
                    "errorCode": result.error_code,
                }
            },
        )

    def log_repeats(self) -> None:
        """One line per kind of problem for its rows not logged one by one."""
        for (status, error_code), repeats in self._repeats.items():
            under = f" under {repeats.folder}{os.sep}" if repeats.folder else ""
            logger.warning(
                "and %d more rows %s %s%s (rows %d to %d; the report lists each)",
                repeats.rows,
                status.value,
                error_code,
                under,
                repeats.first_row,
                repeats.last_row,
                extra={
                    "fields": {
                        "event": "repeated_problem",
                        "status": status.value,
                        "errorCode": error_code,
                        "rows": repeats.rows,
                        "folder": repeats.folder,
                        "firstRow": repeats.first_row,
                        "lastRow": repeats.last_row,
                    }
                },
            )
        self._repeats.clear()

    def on_retry(self, row: ManifestRow, event: RetryEvent) -> None:
        answer = event.answer
        what = answer.error_code or str(answer.http_status)
        if what.startswith("http_") and answer.message:
            what += f" ({answer.message})"  # a gateway answer: its message says which
        logger.info(
            "row %d (%s): attempt %d got %s; retrying in %.1f s",
            row.row,
            row.submission_id,
            event.attempt,
            what,
            event.wait,
        )

    def on_api_state(self, state: ApiState) -> None:
        level = logging.INFO if state.condition is ApiCondition.NORMAL else logging.WARNING
        logger.log(
            level,
            "%s",
            api_state_text(state, now=datetime.now(UTC)),
            extra={"fields": api_state_fields(state, now=datetime.now(UTC))},
        )


def _folder(path: str | None) -> str | None:
    return None if path is None else os.path.dirname(path) or None  # noqa: PTH120 (a string)


def _common_folder(folder: str, other: str | None) -> str | None:
    if other is None:
        return None
    if other == folder:
        return folder
    try:
        return os.path.commonpath([folder, other]) or None
    except ValueError:  # one absolute, one relative
        return None


def api_state_text(state: ApiState, *, now: datetime, told_ago: float = 0.0) -> str:
    """The API's state in a few words; `told_ago` seconds after the run told it."""
    if state.condition is ApiCondition.QUOTA_SPENT:
        probe = _clock_time(now, state.next_probe_in, told_ago)
        return f"paused: quota spent, next probe at {probe}"
    if state.condition is ApiCondition.OUTAGE:
        failing = round(state.failing_for + told_ago)
        probe = _clock_time(now, state.next_probe_in, told_ago)
        return f"API failing for {failing} s, probing; next probe at {probe}"
    if state.condition is ApiCondition.PAUSED:
        return (
            "paused: the API asked to wait (Retry-After), until "
            f"{_clock_time(now, state.resume_in, told_ago)}"
        )
    if state.rate_limit is not None:
        return f"API throttling: holding the run to {state.rate_limit:.1f} requests/s"
    return "API answering: full speed"


def api_state_fields(state: ApiState, *, now: datetime) -> dict[str, object]:
    """The same state as structured fields, for --log-format json."""
    return {
        "event": "api_state",
        "apiCondition": state.condition.value,
        "failingForSeconds": round(state.failing_for, 1),
        "nextProbeAt": _iso(now, state.next_probe_in),
        "resumeAt": _iso(now, state.resume_in),
        "rateLimit": None if state.rate_limit is None else round(state.rate_limit, 2),
    }


def _clock_time(now: datetime, seconds: float | None, told_ago: float) -> str:
    if seconds is None:
        return "once a request is due"
    at = now + timedelta(seconds=max(0.0, seconds - told_ago))
    return at.strftime("%H:%M:%S UTC")


def _iso(now: datetime, seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return (now + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def duration_text(seconds: float) -> str:
    """A duration as 4m05s, or 2h13m past an hour."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
