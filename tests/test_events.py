"""Observers: what a run tells the outside reaches every observer that listens."""

from __future__ import annotations

from datetime import UTC, datetime

from batch_uploader import RowResult, Status
from batch_uploader.client import Answer
from batch_uploader.events import NullObserver, Observers, RequestEvent, RunObserver

RESULT = RowResult(
    row=1,
    submission_id="s-1",
    fields=("selfieImage",),
    status=Status.OK,
    finished_at=datetime(2026, 11, 30, tzinfo=UTC),
)
EVENT = RequestEvent(Answer(http_status=200), 0.02, [("submissionId", b"s-1")])


class Recorder(RunObserver):
    def __init__(self, name: str, heard: list[tuple[str, object]]) -> None:
        self.name = name
        self.heard = heard

    def on_request(self, event: RequestEvent) -> None:
        self.heard.append((self.name, event))

    def on_row_finished(self, result: RowResult) -> None:
        self.heard.append((self.name, result))


def test_each_request_and_row_reaches_every_observer_that_listens_in_order() -> None:
    heard: list[tuple[str, object]] = []
    rows_only = NullObserver()
    # A hook set on the instance, not the class, is listened to as well.
    rows_only.on_row_finished = lambda result: heard.append(("instance", result))  # type: ignore[method-assign]
    observers = Observers(
        Recorder("first", heard), NullObserver(), rows_only, Recorder("last", heard)
    )

    observers.on_request(EVENT)
    observers.on_row_finished(RESULT)

    assert heard == [
        ("first", EVENT),
        ("last", EVENT),
        ("first", RESULT),
        ("instance", RESULT),
        ("last", RESULT),
    ]
