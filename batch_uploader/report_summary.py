"""`report summary`: what one or more reports (a run's, or its shards') come to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from batch_uploader.report_lines import LatestStatuses, LineTally, ReportLine, read_report_lines
from batch_uploader.results import Status

MOST_FREQUENT = 10


@dataclass(frozen=True, kw_only=True)
class ErrorCodeTally:
    """Rows whose latest line has this errorCode, with one of them as an example."""

    error_code: str
    rows: int
    example: ReportLine


@dataclass(frozen=True, kw_only=True)
class ReportsSummary:
    """Rows by the status of their latest line, the most frequent errorCodes, the requests
    the lines record, and when the first and last of them finished."""

    reports: tuple[Path, ...]
    rows_by_status: dict[Status, int]
    error_codes: list[ErrorCodeTally]
    requests: int
    first_finished_at: str | None
    last_finished_at: str | None
    lines: int
    rows_with_several_lines: int
    unreadable_lines: int

    @property
    def rows(self) -> int:
        return sum(self.rows_by_status.values())

    @property
    def span_seconds(self) -> float | None:
        if self.first_finished_at is None or self.last_finished_at is None:
            return None
        first = datetime.fromisoformat(self.first_finished_at)
        last = datetime.fromisoformat(self.last_finished_at)
        return (last - first).total_seconds()

    def as_json(self) -> dict[str, object]:
        return {
            "reports": [str(path) for path in self.reports],
            "rows": self.rows,
            "byStatus": {status.value: count for status, count in self.rows_by_status.items()},
            "errorCodes": [
                {
                    "errorCode": tally.error_code,
                    "rows": tally.rows,
                    "example": {
                        "report": str(tally.example.report),
                        "row": tally.example.row,
                        "submissionId": tally.example.submission_id,
                        "status": tally.example.status,
                        "message": tally.example.message,
                    },
                }
                for tally in self.error_codes
            ],
            "requests": self.requests,
            "firstFinishedAt": self.first_finished_at,
            "lastFinishedAt": self.last_finished_at,
            "spanSeconds": self.span_seconds,
            "lines": self.lines,
            "rowsWithSeveralLines": self.rows_with_several_lines,
            "unreadableLines": self.unreadable_lines,
        }


@dataclass
class _Reading:
    statuses: LatestStatuses = field(default_factory=LatestStatuses)
    by_status: Counter[str] = field(default_factory=Counter)
    # The latest line of each row that has an errorCode: few, next to the rows that are ok.
    coded: dict[int, ReportLine] = field(default_factory=dict)
    requests: int = 0
    first: str | None = None
    last: str | None = None
    several: int = 0

    def add(self, line: ReportLine) -> None:
        previous = self.statuses.replace(line.row, line.status)
        if previous is not None:
            self.by_status[previous] -= 1
            self.several += 1
            self.coded.pop(line.row, None)
        self.by_status[line.status] += 1
        if line.error_code:
            self.coded[line.row] = line
        self.requests += line.attempts
        if line.finished_at:
            # One format throughout (UTC, the same precision): the text sorts as the time.
            if self.first is None or line.finished_at < self.first:
                self.first = line.finished_at
            if self.last is None or line.finished_at > self.last:
                self.last = line.finished_at


def summarize_reports(paths: Sequence[Path]) -> ReportsSummary:
    """Read every report in order; a row's later line replaces its earlier one."""
    reading, tally = _Reading(), LineTally()
    for path in paths:
        for line in read_report_lines(path, tally):
            reading.add(line)
    codes = Counter(line.error_code for line in reading.coded.values())
    examples: dict[str, ReportLine] = {}
    for line in reading.coded.values():
        examples.setdefault(line.error_code, line)
    return ReportsSummary(
        reports=tuple(paths),
        rows_by_status={status: reading.by_status[status.value] for status in Status},
        error_codes=[
            ErrorCodeTally(error_code=code, rows=rows, example=examples[code])
            for code, rows in codes.most_common(MOST_FREQUENT)
        ],
        requests=reading.requests,
        first_finished_at=reading.first,
        last_finished_at=reading.last,
        lines=tally.lines,
        rows_with_several_lines=reading.several,
        unreadable_lines=tally.unreadable,
    )
